"""Tiny Gemma 3 for lmms-eval's batched ``gemma3`` backend: the builder lives in the package (bench/rounds.py uses it)."""

from proactivebench_ext.testing.tiny_gemma3 import build_tiny_gemma3, count_parameters

__all__ = ["build_tiny_gemma3", "count_parameters"]
