"""Duplicates: exact and near-duplicate images (multi-index Hamming search), captions."""
