"""Fixtures shared across test modules (keep this file small)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test (``-m "not integration"`` skips it)."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true",
                     help="rewrite tests/snapshots/*.json from the current prompts (review the diff first)")


@pytest.fixture(scope="session")
def update_snapshots(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-snapshots"))


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


@pytest.fixture
def judge_env(monkeypatch):
    """Point lmms-eval's judge variables at a fake judge; quick timeouts and backoff."""
    for name in ("API_TYPE", "LLM_JUDGE_URL", "JUDGE_MODEL_VERSION", "PROACTIVEBENCH_JUDGE_INLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    monkeypatch.setenv("PROACTIVEBENCH_JUDGE_TIMEOUT", "0.5")
    monkeypatch.setenv("PROACTIVEBENCH_JUDGE_BACKOFF", "0.01")
    monkeypatch.setenv("PROACTIVEBENCH_JUDGE_RETRIES", "3")

    def point(url: str) -> None:
        monkeypatch.setenv("OPENAI_API_URL", url)
    return point
