"""Benchmarks behind ``distill3d bench``: each prints a table with a same-run baseline."""
