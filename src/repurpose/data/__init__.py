"""Drug–target data: pair tables and dataset files, library files, splits, descriptors,
drug-likeness and upload limits."""
