"""Benchmarks: run each as ``python -m bench.<name>``; results are printed and kept in bench/results/."""
