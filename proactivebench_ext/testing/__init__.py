"""Helpers for testing models and the engine offline, shipped so the demo and users can use them.

``tiny_models`` / ``tiny_gemma3`` build tiny randomly initialised VLMs from a config (no hub
download) for lmms-eval's ``llava_hf`` and ``gemma3`` backends; ``conformance`` replays golden
traces of the reference implementation (``python -m proactivebench_ext conformance DIR``).
"""
