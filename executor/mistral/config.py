"""Where the client's settings come from (arguments, then environment) and the one place that
builds the SDK client, so every call shares the same server, key, timeout and (no) SDK retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mistral_executor.settings import MODEL_ROLES, Settings, get_settings

DEFAULT_SERVER_URL = "https://api.mistral.ai"
ROLES = MODEL_ROLES


def normalise_server_url(url: str | None) -> str:
    """Base URL without a trailing ``/`` or ``/v1`` (the SDK adds ``/v1/...`` to every path).

    People often paste the OpenAI-style ``http://host:8000/v1`` of their vLLM server; accepting it
    avoids a confusing 404 on ``/v1/v1/chat/completions``.
    """
    url = (url or "").strip() or DEFAULT_SERVER_URL
    url = url.rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


@dataclass
class ClientConfig:
    """Everything that shapes how calls are made. The API key is kept out of repr on purpose."""

    api_key: str | None = field(default=None, repr=False)
    server_url: str = DEFAULT_SERVER_URL
    #: Seconds one request may wait for the server (``MISTRAL_TIMEOUT_S``).
    timeout_s: float = 60.0
    max_retries: int = 3
    #: Seconds one call may take with all its retries and the waits between them; None means
    #: ``timeout_s`` (the rule is in ``executor.mistral.retry``).
    call_budget_s: float | None = None
    #: First backoff delay; doubles per retry (with jitter) up to ``retry_max_delay_s``.
    retry_base_delay_s: float = 0.5
    retry_max_delay_s: float = 20.0
    #: A ``Retry-After`` longer than this is not waited for: the call fails with RateLimitError.
    max_retry_after_s: float = 60.0
    #: Consecutive failed attempts that open the circuit breaker, and how long it stays open.
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    #: How long a model listing is trusted; a fallback (built-in) listing is retried sooner.
    models_ttl_s: float = 600.0
    models_fallback_ttl_s: float = 30.0
    #: Role -> model overrides (``{"coder": "devstral-small-latest"}``).
    models: dict[str, str] = field(default_factory=dict)
    embed_batch_size: int = 64

    def budget_for(self, timeout_s: float | None = None) -> float:
        """The time budget of one call made with request timeout ``timeout_s`` (default ours)."""
        if self.call_budget_s is not None:
            return self.call_budget_s
        return timeout_s or self.timeout_s

    @property
    def has_key(self) -> bool:
        return bool(self.api_key)

    @property
    def is_mistral_cloud(self) -> bool:
        return self.server_url.rstrip("/") == DEFAULT_SERVER_URL


def config_from(
    api_key: str | None = None,
    server_url: str | None = None,
    *,
    timeout_s: float | None = None,
    max_retries: int | None = None,
    models: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: object,
) -> ClientConfig:
    """Arguments win over the environment: ``MISTRAL_API_KEY``, ``MISTRAL_SERVER_URL``,
    ``MISTRAL_TIMEOUT_S``, ``MISTRAL_MAX_RETRIES`` and ``MISTRAL_MODEL_<ROLE>`` (e.g.
    ``MISTRAL_MODEL_CODER=devstral-small-latest``). A None argument means "from the
    environment", so a caller that passes nothing never overrides what the user set.
    ``environ`` replaces the process's settings (tests); the variables are parsed by
    :mod:`mistral_executor.settings`."""
    settings = get_settings() if environ is None else Settings.from_env(environ)
    role_models = settings.models
    for role, model in (models or {}).items():
        if role not in ROLES:
            raise ValueError(f"unknown model role {role!r}; roles are {', '.join(ROLES)}")
        if model:
            role_models[role] = model
    if timeout_s is None:
        timeout_s = settings.timeout_s
    if max_retries is None:
        max_retries = settings.max_retries
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    key = api_key if api_key is not None else settings.api_key
    config = ClientConfig(
        api_key=(key or "").strip() or None,
        server_url=normalise_server_url(
            server_url if server_url is not None else settings.server_url
        ),
        timeout_s=float(timeout_s),
        max_retries=int(max_retries),
        models=role_models,
    )
    for name, value in overrides.items():
        if not hasattr(config, name) or name in ("api_key", "server_url", "models"):
            raise TypeError(f"unknown client setting {name!r}")
        setattr(config, name, value)
    return config


def build_sdk(config: ClientConfig):
    """The single place that constructs ``mistralai.client.Mistral``.

    SDK retries are disabled (our retry loop counts attempts, honours Retry-After and feeds the
    circuit breaker), and the SDK's debug logger is silenced because ``MISTRAL_DEBUG`` would make it
    log request headers, i.e. the API key.
    """
    from mistralai.client import Mistral
    from mistralai.client.utils.logger import NoOpLogger
    from mistralai.client.utils.retries import BackoffStrategy, RetryConfig

    no_retries = RetryConfig("none", BackoffStrategy(0, 0, 1.0, 0), retry_connection_errors=False)
    return Mistral(
        # A callable returning None sends no Authorization header at all (self-hosted servers
        # without auth); an empty string would send an invalid "Bearer " header, and None would
        # make the SDK read MISTRAL_API_KEY behind our back.
        api_key=config.api_key if config.api_key else (lambda: None),
        server_url=config.server_url,
        retry_config=no_retries,
        timeout_ms=int(config.timeout_s * 1000),
        debug_logger=NoOpLogger(),
    )
