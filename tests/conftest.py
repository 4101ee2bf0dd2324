"""Fixtures shared across test modules (keep this file small)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for lmms-eval subprocesses: offline, a private HF cache, the embedded data set,
    and the package's default task registration."""
    env = dict(os.environ)
    for name in ("PROACTIVEBENCH_DATA_DIR", "PROACTIVEBENCH_DOWNLOAD", "PROACTIVEBENCH_NO_AUTOREGISTER",
                 "LMMS_EVAL_PLUGINS"):
        env.pop(name, None)
    env.update(HF_HOME=str(tmp_path_factory.mktemp("hf_home")), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    return env
