"""Tiny offline VLMs for the tests: the builder lives in the package (the demo uses it too)."""

from __future__ import annotations

from proactivebench_ext.testing.tiny_models import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tiny_llava, corpus, train_tokenizer

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "build_tiny_llava", "corpus", "train_tokenizer"]
