"""The models: DrugBAN (its batches of featurised pairs and its inference), the fast scoring path,
explanations, the baselines (RF, XGBoost, knn, ensemble), model directories, cards, published
copies and training evidence. Featurising a compound or a protein is ``data``'s."""
