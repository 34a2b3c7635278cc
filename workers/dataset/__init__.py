"""Training data from GitHub: the collector library and `steward dataset collect`."""
