"""Drug–target data: pair tables and dataset files, splits, descriptors, drug-likeness, upload limits
and the bundled datasets."""
