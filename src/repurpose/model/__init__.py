"""The models: DrugBAN and its featurisation, the fast scoring path, explanations, the baselines
(RF, XGBoost, knn, ensemble), model directories, cards, published copies and training evidence."""
