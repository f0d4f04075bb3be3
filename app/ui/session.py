"""What one browser session knows: its settings, and where its API key comes from.

The app is meant to be hosted (a Hugging Face Space), so every visitor gets a private copy of these
settings through ``gr.State``; nothing here is module-level mutable state shared between visitors.

The API key is deliberately *not* part of :class:`SessionSettings`: it lives only in the visitor's
password box and travels with each request that needs it, so the server never holds it between
requests, never writes it anywhere and never echoes it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mistral_executor.settings import get_settings
from sandbox import Limits

# Hard caps on what a visitor may ask for: the host's two cores are shared by every visitor.
MAX_ITERATIONS_CAP = 10
TIMEOUT_CAP_S = 120.0
MEMORY_CAP_MB = 2048
MIN_MEMORY_MB = 64

ENV_API_KEY = "MISTRAL_API_KEY"
MISTRAL_CLOUD_URL = "https://api.mistral.ai"
PRIVATE_ENV = "MISTRAL_EXECUTOR_UI_PRIVATE"
ENV_SERVER_URL = "MISTRAL_SERVER_URL"
# The host's default backend for every session (a visitor may still pick another in Settings).
ENV_SANDBOX = "MISTRAL_EXECUTOR_SANDBOX"

# Spoken to a visitor: how to add *their* key. How a host sets one for everybody
# (MISTRAL_API_KEY) is the README's business and the server log's, not a visitor's.
NO_KEY_MESSAGE = (
    "**No Mistral API key yet.** Paste yours in the **Settings** tab or in the Chat tab's key "
    "box (get one at https://console.mistral.ai/api-keys); it is kept only in this browser tab. "
    "The **Sandbox** and **Plugins** tabs work without a key."
)


def default_sandbox() -> str:
    return get_settings().sandbox


@dataclass
class SessionSettings:
    """One visitor's choices. Copied per session by ``gr.State``; never shared."""

    server_url: str = ""
    # role -> model id; a missing role means "let the client pick the best live model".
    models: dict[str, str] = field(default_factory=dict)
    sandbox: str = field(default_factory=default_sandbox)
    max_iterations: int = 3
    timeout_s: float = 10.0
    memory_mb: int = 512
    # "Review code before it runs": each run pauses for the visitor before a program runs.
    review: bool = False

    def limits(self) -> Limits:
        return Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)

    def with_changes(self, **changes: object) -> SessionSettings:
        """A validated copy: out-of-range numbers are clamped rather than refused."""
        updated = replace(self, **changes)  # type: ignore[arg-type]
        updated.max_iterations = clamp_int(updated.max_iterations, 1, MAX_ITERATIONS_CAP)
        updated.timeout_s = clamp_float(updated.timeout_s, 0.5, TIMEOUT_CAP_S)
        updated.memory_mb = clamp_int(updated.memory_mb, MIN_MEMORY_MB, MEMORY_CAP_MB)
        updated.server_url = (updated.server_url or "").strip()
        updated.models = {role: model for role, model in updated.models.items() if model}
        updated.review = bool(updated.review)
        return updated


def clamp_int(value: object, low: int, high: int) -> int:
    try:
        number = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = low
    return max(low, min(high, number))


def clamp_float(value: object, low: float, high: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = low
    return max(low, min(high, number))


def private_mode() -> bool:
    """True when visitors are strangers to each other (a hosted Space, or the env flag).

    Then each session sees only its own runs and documents, and a visitor's server URL is
    ignored so the hosted app cannot be used to send requests to addresses of a visitor's choice.
    """
    return get_settings().private


def is_mistral_cloud(url: str | None) -> bool:
    return not url or url.rstrip("/").removesuffix("/v1") == MISTRAL_CLOUD_URL


@dataclass(frozen=True)
class Credentials:
    """The key and server a request will use, and whose key it is.

    ``repr`` hides the key so a stray log line or traceback cannot leak it.
    """

    api_key: str | None
    server_url: str | None
    source: str  # "session", "environment" or "none"

    def __repr__(self) -> str:
        shown = "set" if self.api_key else "none"
        return f"Credentials(api_key=<{shown}>, server_url={self.server_url!r}, source={self.source!r})"

    @property
    def has_key(self) -> bool:
        return bool(self.api_key)

    @property
    def ready(self) -> bool:
        """Whether model calls can be attempted: with a key, or -- when run locally -- against a
        self-hosted server that may not need one (vLLM and Ollama usually run without
        authentication). A hosted app always asks its visitors for a key."""
        if self.has_key:
            return True
        return not private_mode() and not is_mistral_cloud(self.server_url)


def resolve_credentials(session_key: str | None, settings: SessionSettings) -> Credentials:
    """The visitor's own key first, then the host's ``MISTRAL_API_KEY``.

    A custom server URL is honoured only with the visitor's own key: otherwise any visitor could
    point the app at a server of theirs and receive the host's secret key in the Authorization
    header. In private mode (hosted) it is not honoured at all.
    """
    own_key = (session_key or "").strip()
    host = get_settings()
    env_url = host.server_url or None
    own_url = None if private_mode() else (settings.server_url or None)
    if own_key:
        return Credentials(own_key, own_url or env_url, "session")
    env_key = (host.api_key or "").strip()
    if env_key:
        return Credentials(env_key, env_url, "environment")
    return Credentials(None, own_url or env_url, "none")


def key_status_markdown(session_key: str | None, settings: SessionSettings) -> str:
    """One line telling the visitor which key is in use, without ever showing it."""
    credentials = resolve_credentials(session_key, settings)
    ignored = ""
    if settings.server_url and credentials.server_url != settings.server_url:
        ignored = (
            " Your custom server URL is ignored on this hosted app."
            if private_mode()
            else " Your custom server URL is ignored with the host's key; add your own key to use it."
        )
    if credentials.source == "session":
        return f"Using **your API key** (kept in this browser tab only).{ignored}"
    if credentials.source == "environment":
        return f"Using the **host's API key** (`{ENV_API_KEY}`).{ignored}"
    if credentials.ready:
        return (
            f"No API key: calling the self-hosted server at `{credentials.server_url}` without one."
        )
    return NO_KEY_MESSAGE
