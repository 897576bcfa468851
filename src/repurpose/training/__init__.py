"""Training: DrugBAN's loop, the pipeline from pair files to a model directory, the Ray training
worker and MLflow tracking."""
