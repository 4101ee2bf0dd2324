"""Talking to the judge LLM through lmms-eval's own judge providers (``lmms_eval.llm_judge``).

Configuration is by environment variables, as for every lmms-eval judge:

- ``API_TYPE``: ``openai`` (default; any OpenAI-compatible server: vLLM, SGLang, an API) or ``local``.
- ``openai``: ``OPENAI_API_URL`` (base URL, e.g. ``http://localhost:8000/v1``) and ``OPENAI_API_KEY``
  (any non-empty value for a local server). ``local``: ``LLM_JUDGE_URL`` (full
  ``.../v1/chat/completions`` URL, no key).
- ``JUDGE_MODEL_VERSION``: the served model name (default ``Qwen/Qwen3-8B``, the paper's judge).
- ``PROACTIVEBENCH_JUDGE_{TIMEOUT,RETRIES,BACKOFF,BACKOFF_MAX,MAX_TOKENS,TEMPERATURE,TOP_P}``: see
  :class:`JudgeSettings`.

Why a thin wrapper around the provider: the providers retry every exception (a 401 included) a
fixed number of times with a constant 10 s sleep, and the ``openai`` client path ignores the
configured timeout. We create them with ``num_retries=1`` and do the retrying here: timeouts,
429, 5xx and transport failures (a refused, dropped or reset connection) are retried with bounded
exponential backoff; one request that still fails is :class:`JudgeFailed` (that answer stays
unjudged), and whether the judge as a whole is unreachable is decided by the caller from many
requests (see :mod:`.phase`), because one request whose connection always drops says nothing
about the others. 401, 403 and 404 mean a wrong key, model name or URL (fatal at once, every
request would get the same); any other 4xx (400 context length exceeded, 413, 422 content filter)
is about this one request: it is not retried and that answer stays unjudged with the server's
message (:class:`JudgeFailed` with kind ``refused``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_JUDGE_MODEL = "Qwen/Qwen3-8B"
ENDPOINT_ENV = {"openai": "OPENAI_API_URL", "async_openai": "OPENAI_API_URL", "local": "LLM_JUDGE_URL",
                "azure": "AZURE_ENDPOINT", "async_azure": "AZURE_ENDPOINT"}
INLINE_ENV = "PROACTIVEBENCH_JUDGE_INLINE"

Messages = Sequence[Mapping[str, str]]


class JudgeError(RuntimeError):
    """Base class of judge failures."""


class JudgeConfigError(JudgeError):
    """The environment does not describe a usable judge (missing variable, bad value)."""


class JudgeUnreachable(JudgeError):
    """Nothing gets through to the judge (its endpoint does not answer, or request after request
    fails): nothing more can be judged."""


class JudgeRejected(JudgeError):
    """The endpoint refuses every request (401, 403, 404): wrong key, model name or URL."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class JudgeFailed(JudgeError):
    """This one request never got an answer (timeouts, 5xx or lost connections past the retry
    budget, or a bad payload). ``kind`` is the last failure's :func:`failure_kind`."""

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise JudgeConfigError(f"{name}={raw!r} is not a number; unset it or give e.g. {name}={default:g}") from None


@dataclass(frozen=True)
class JudgeSettings:
    """Everything that decides how the judge is called. Defaults follow the paper's judge.

    Qwen3-8B thinks before answering, hence the long timeout and token budget, and Qwen's
    recommended sampling for thinking mode (temperature 0.6, top-p 0.95; greedy decoding makes
    thinking models loop).
    """

    api_type: str = "openai"
    model: str = DEFAULT_JUDGE_MODEL
    endpoint: str | None = None  # the value of the endpoint variable, for messages
    timeout: float = 300.0  # seconds per request
    retries: int = 4  # extra attempts after the first, for timeouts / 429 / 5xx / lost connections
    backoff: float = 1.0  # first wait; doubles each retry
    backoff_max: float = 30.0
    max_tokens: int = 8192
    temperature: float = 0.6
    top_p: float | None = 0.95

    @property
    def endpoint_env(self) -> str:
        return ENDPOINT_ENV.get(self.api_type, f"the endpoint variable of lmms-eval's {self.api_type!r} judge provider")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> JudgeSettings:
        env = os.environ if env is None else env
        api_type = env.get("API_TYPE", "openai").strip().lower() or "openai"
        settings = cls(
            api_type=api_type,
            model=env.get("JUDGE_MODEL_VERSION", "").strip() or DEFAULT_JUDGE_MODEL,
            endpoint=env.get(ENDPOINT_ENV.get(api_type, ""), "").strip() or None,
            timeout=_env_float(env, "PROACTIVEBENCH_JUDGE_TIMEOUT", cls.timeout),
            retries=int(_env_float(env, "PROACTIVEBENCH_JUDGE_RETRIES", cls.retries)),
            backoff=_env_float(env, "PROACTIVEBENCH_JUDGE_BACKOFF", cls.backoff),
            backoff_max=_env_float(env, "PROACTIVEBENCH_JUDGE_BACKOFF_MAX", cls.backoff_max),
            max_tokens=int(_env_float(env, "PROACTIVEBENCH_JUDGE_MAX_TOKENS", cls.max_tokens)),
            temperature=_env_float(env, "PROACTIVEBENCH_JUDGE_TEMPERATURE", cls.temperature),
            top_p=_env_float(env, "PROACTIVEBENCH_JUDGE_TOP_P", cls.top_p or 0.0) or None,
        )
        return replace(settings, **{key: value for key, value in overrides.items() if value is not None})


def judge_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether answers are judged during generation: the endpoint variable is set explicitly.

    ``OPENAI_API_KEY`` alone does not count (it often serves the evaluated model), and
    ``PROACTIVEBENCH_JUDGE_INLINE=0`` turns inline judging off for a generation-only run.
    """
    env = os.environ if env is None else env
    if env.get(INLINE_ENV, "").strip().lower() in {"0", "false", "no", "off"}:
        return False
    return JudgeSettings.from_env(env).endpoint is not None


def how_to_configure() -> str:
    return ("set OPENAI_API_URL (e.g. http://localhost:8000/v1 for `vllm serve Qwen/Qwen3-8B`) and OPENAI_API_KEY "
            "(any non-empty value for a local server), or API_TYPE=local with LLM_JUDGE_URL "
            "(http://HOST:PORT/v1/chat/completions); JUDGE_MODEL_VERSION names the served model")


MISCONFIGURED_STATUSES = frozenset({401, 403, 404})  # wrong key, forbidden, wrong model name or URL


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a ``requests`` or ``openai`` client error (None when there is none)."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def server_message(exc: BaseException, limit: int = 500) -> str:
    """What the server said about a refused request: its JSON ``error.message``, else its body,
    else the exception text (cut to ``limit`` characters)."""
    body = getattr(exc, "body", None)  # openai client errors: the parsed JSON body
    response = getattr(exc, "response", None)
    if body is None and response is not None:
        try:
            body = response.json()
        except Exception:  # noqa: BLE001 - not JSON: use the text
            body = getattr(response, "text", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        body = error.get("message", error) if isinstance(error, dict) else error
    text = str(body) if body not in (None, "") else str(exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def failure_kind(exc: BaseException) -> str:
    """``timeout`` | ``server`` (429/5xx) | ``connection`` | ``rejected`` (401/403/404: the judge is
    misconfigured) | ``refused`` (another 4xx: this request only) | ``other``.

    Works for ``requests`` errors (the providers' fallback path) and ``openai`` client errors.
    """
    status = http_status(exc)
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"Timeout", "ReadTimeout", "ConnectTimeout", "APITimeoutError", "TimeoutError"}:
        return "timeout"
    if isinstance(status, int):
        if status >= 500 or status == 429:
            return "server"
        if status == 408:
            return "timeout"
        if status in MISCONFIGURED_STATUSES:
            return "rejected"
        if 400 <= status < 500:
            return "refused"
    if names & {"ConnectionError", "APIConnectionError", "ConnectionRefusedError", "RemoteDisconnected"}:
        return "connection"
    return "other"


def backoff_delays(settings: JudgeSettings) -> list[float]:
    """Waits before each retry: backoff, 2*backoff, ... capped at backoff_max."""
    return [min(settings.backoff_max, settings.backoff * 2 ** attempt) for attempt in range(max(settings.retries, 0))]


class JudgeClient:
    """One configured judge. ``complete(messages)`` returns the judge's raw text (reasoning included).

    Thread-safe: each call builds its request independently (the provider's HTTP layer is
    thread-safe), so the judge CLI can keep several requests in flight.
    """

    def __init__(self, settings: JudgeSettings, *, sleep: Callable[[float], None] = time.sleep,
                 on_retry: Callable[[str, int, float], None] | None = None) -> None:
        self.settings = settings
        self._sleep = sleep
        self._on_retry = on_retry  # (failure kind, attempt number, wait in seconds), e.g. to show progress
        self._provider = self._make_provider()

    def _make_provider(self) -> Any:
        from lmms_eval.llm_judge import ServerConfig
        from lmms_eval.llm_judge.factory import ProviderFactory

        settings = self.settings
        if settings.api_type in ("openai", "async_openai") and not os.environ.get("OPENAI_API_KEY"):
            raise JudgeConfigError("OPENAI_API_KEY is not set; lmms-eval's openai judge provider needs it "
                                   "(any non-empty value, e.g. EMPTY, for a local vLLM/SGLang server)")
        config = ServerConfig(model_name=settings.model, temperature=settings.temperature, max_tokens=settings.max_tokens,
                              top_p=settings.top_p, timeout=settings.timeout, num_retries=1, retry_delay=0)
        try:
            provider = ProviderFactory.create_provider(api_type=settings.api_type, config=config)
        except ValueError as error:
            raise JudgeConfigError(f"API_TYPE={settings.api_type!r}: {error}") from None
        client = getattr(provider, "client", None)
        if getattr(provider, "use_client", False) and hasattr(client, "with_options"):
            # The openai package path ignores ServerConfig.timeout and retries on its own.
            provider.client = client.with_options(timeout=settings.timeout, max_retries=0)
        return provider

    def describe(self) -> str:
        settings = self.settings
        return f"{settings.endpoint_env}={settings.endpoint or '(default)'}, model {settings.model}"

    def complete(self, messages: Messages) -> str:
        """The judge's reply. Raises JudgeFailed (give up on this request) or JudgeRejected (give
        up on the judge: its configuration is wrong)."""
        from lmms_eval.llm_judge import Request

        delays = backoff_delays(self.settings)
        for attempt in range(len(delays) + 1):
            try:
                response = self._provider.evaluate(Request(messages=[dict(m) for m in messages], config=self._provider.config))
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed silently
                kind = failure_kind(exc)
                if kind == "rejected":
                    status = http_status(exc)
                    raise JudgeRejected(f"the judge at {self.describe()} answers HTTP {status} ({server_message(exc)}); "
                                        f"check JUDGE_MODEL_VERSION, OPENAI_API_KEY and {self.settings.endpoint_env}",
                                        status) from exc
                if kind == "refused":  # about this request (too long, filtered): retrying gets the same
                    raise JudgeFailed(f"the judge refused this request: HTTP {http_status(exc)}: {server_message(exc)}",
                                      kind) from exc
                if kind == "other":
                    if isinstance(exc, AttributeError) and "NoneType" in str(exc):
                        raise JudgeFailed("the judge returned no message content (its token budget may have run out "
                                          "while thinking; raise PROACTIVEBENCH_JUDGE_MAX_TOKENS)") from exc
                    raise JudgeFailed(f"unusable judge response: {type(exc).__name__}: {exc}") from exc
                if attempt == len(delays):
                    if kind == "connection":
                        raise JudgeFailed(f"connection to the judge at {self.describe()} failed on all {attempt + 1} "
                                          f"attempts ({exc}); is the judge server up, and is {self.settings.endpoint_env} "
                                          "right?", kind) from exc
                    raise JudgeFailed(f"{kind} error after {attempt + 1} attempts: {exc}", kind) from exc
                if self._on_retry is not None:
                    self._on_retry(kind, attempt + 1, delays[attempt])
                self._sleep(delays[attempt])
                continue
            content = response.content
            if not isinstance(content, str):
                raise JudgeFailed(f"the judge returned {type(content).__name__} instead of text")
            return content
        raise AssertionError("unreachable")

    def check_reachable(self) -> None:
        """Raise JudgeUnreachable unless something answers HTTP at the endpoint (``GET .../models``).

        Used before generation when the judge is needed (multi-turn OEG, inline judging), so a
        dead judge fails the run before any model time is spent.
        """
        import requests

        settings = self.settings
        base = settings.endpoint or ("https://api.openai.com/v1" if settings.api_type.endswith("openai") else None)
        if base is None:
            return
        url = base.rstrip("/")
        url = url[: -len("/chat/completions")] if url.endswith("/chat/completions") else url
        try:
            requests.get(f"{url}/models", timeout=min(settings.timeout, 10.0))
        except requests.RequestException as error:
            raise JudgeUnreachable(f"cannot reach the judge at {settings.endpoint_env}={base} ({error}); "
                                   f"start the judge server or {how_to_configure()}") from None
