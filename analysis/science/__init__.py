"""The science: pure functions and estimators on arrays (no files, no config; bad arguments raise ValueError)."""
