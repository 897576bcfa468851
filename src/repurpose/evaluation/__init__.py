"""Numbers about models: classification and retrieval metrics, and the evaluation tasks."""
