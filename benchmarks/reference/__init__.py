"""Plain PyTorch reference implementations of genzoo models, for benchmarks/reference_compare.py."""
