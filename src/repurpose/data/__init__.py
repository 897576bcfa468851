"""Drug–target data: pair tables and dataset files, library files, splits, descriptors,
drug-likeness, upload limits, and the featurisation every layer above validates input with:
compounds as molecular graphs (``drug_graph``), proteins as integer codes (``protein_encoding``)."""
