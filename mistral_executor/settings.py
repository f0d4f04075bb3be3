"""Every environment variable mistral-executor reads, parsed once, in one frozen dataclass.

Why one module: configuration used to be read in a dozen files and the copies drifted (the API
key read four ways, ``MISTRAL_EXECUTOR_HOME`` expanded in one place and not in another). Here each
variable is declared once -- its field, default, meaning and parser --, a bad value fails with an
error that names the variable, and ``docs/settings.md`` is generated from :data:`VARIABLES`
(a test checks they match).

This is a leaf module: it imports nothing from the project, so ``sandbox/`` and ``plugins/`` may
read it without breaking the layering ``app -> executor -> {plugins, sandbox}``: it is
configuration, not a layer.

Use :func:`get_settings` in code (read once per process, cached) and
``Settings.from_env({...})`` in tests; :func:`reset_settings` drops the cache (the test suite
calls it whenever a test changes the environment).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "MODEL_ROLES",
    "VARIABLES",
    "Settings",
    "SettingsError",
    "Variable",
    "get_settings",
    "markdown_table",
    "reset_settings",
]

MODEL_ROLES = ("planner", "coder", "vision", "embeddings", "ocr")
DEFAULT_HOME = "~/.mistral-executor"
DEFAULT_DOCKER_IMAGE = "mistral-executor-sandbox:latest"
WEB_SEARCH_TOOLS = ("web_search", "web_search_premium")


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used; the message names it."""


# -- parsers: text (already stripped, never empty) -> value ---------------------------------------


def _text(name: str, text: str) -> str:
    return text


def _path(name: str, text: str) -> Path:
    # Expanded once, here: every user of the path sees the same absolute location.
    return Path(text).expanduser()


def _number(name: str, text: str, *, positive: bool = True) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise SettingsError(f"{name} must be a positive number, got {text!r}")
    return value


def _count(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {text!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must be >= 0, got {text!r}")
    return value


def _at_least_one(name: str, text: str) -> int:
    value = _count(name, text)
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {text!r}")
    return value


def _port(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, got {text!r}") from None
    if not 0 < value < 65536:
        raise SettingsError(f"{name} must be a port number (1-65535), got {text!r}")
    return value


def _flag(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/true/yes or 0/false/no, got {text!r}")


def _names(name: str, text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _web_search(name: str, text: str) -> str:
    if text not in WEB_SEARCH_TOOLS:
        raise SettingsError(f"{name} must be one of {', '.join(WEB_SEARCH_TOOLS)}, got {text!r}")
    return text


@dataclass(frozen=True)
class Variable:
    """One environment variable: the field it fills, its parser, what it means, its default."""

    env: str
    field: str
    parse: Callable[[str, str], Any]
    meaning: str
    default_text: str = "unset"
    #: An empty value counts as set (``MISTRAL_EXECUTOR_LOAD_PLUGINS=`` means "no plugins").
    empty_is_value: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "MISTRAL_API_KEY",
        "api_key",
        _text,
        "Mistral API key. Never logged, never stored in traces, never passed to the sandbox.",
    ),
    Variable(
        "MISTRAL_SERVER_URL",
        "server_url",
        _text,
        "Base URL of the Mistral API or of a self-hosted server (a trailing `/v1` is accepted).",
        "https://api.mistral.ai",
    ),
    Variable(
        "MISTRAL_TIMEOUT_S",
        "timeout_s",
        _number,
        "Seconds one model request may wait for the server.",
        "60",
    ),
    Variable(
        "MISTRAL_MAX_RETRIES",
        "max_retries",
        _count,
        "Retries of a failed model call (rate limit, 5xx, network).",
        "3",
    ),
    *(
        Variable(
            f"MISTRAL_MODEL_{role.upper()}",
            f"model_{role}",
            _text,
            f"Model for the {role} role (overrides the automatic choice).",
            "chosen from the server's model list",
        )
        for role in MODEL_ROLES
    ),
    Variable(
        "MISTRAL_EXECUTOR_HOME",
        "home",
        _path,
        "Where traces (`traces.db`), documents and `mcp.json` live; `~` is expanded.",
        DEFAULT_HOME,
    ),
    Variable(
        "MISTRAL_EXECUTOR_SANDBOX",
        "sandbox",
        _text,
        "Default sandbox backend of the app and the MCP server (`auto`, `restricted`, "
        "`docker`, or a plugin's backend).",
        "auto",
    ),
    Variable(
        "MISTRAL_EXECUTOR_RUN_TIMEOUT_S",
        "run_timeout_s",
        _number,
        "Deadline of a whole run in seconds (`run --run-timeout` wins).",
        "600",
    ),
    Variable(
        "MISTRAL_EXECUTOR_REVIEW_TIMEOUT_S",
        "review_timeout_s",
        _number,
        "How long a run paused for code review waits for a decision, in seconds; then it stops "
        'with `stop_reason` "review timeout" (`Executor(review_timeout_s=...)` wins).',
        "300",
    ),
    Variable(
        "MISTRAL_EXECUTOR_PLUGINS_DIR",
        "plugins_dir",
        _path,
        "A directory whose `*.py` files are loaded as plugins (`--plugins-dir` wins).",
    ),
    Variable(
        "MISTRAL_EXECUTOR_LOAD_PLUGINS",
        "load_plugins",
        _names,
        "Comma-separated names of the third-party plugins to load; empty loads none "
        "(the built-ins always load).",
        "all installed",
        empty_is_value=True,
    ),
    Variable(
        "MISTRAL_EXECUTOR_MISTRAL_CONNECTORS",
        "mistral_connectors",
        _names,
        "Comma-separated connectors that use Mistral's hosted version when a key is set; "
        "empty for none.",
        "web_search,image_generation,document_library",
        empty_is_value=True,
    ),
    Variable(
        "MISTRAL_EXECUTOR_WEB_SEARCH",
        "web_search",
        _web_search,
        "Mistral's hosted search tool: `web_search` or `web_search_premium`.",
        "web_search",
    ),
    Variable(
        "MISTRAL_EXECUTOR_DOCKER_IMAGE",
        "docker_image",
        _text,
        "Image of the docker sandbox backend.",
        DEFAULT_DOCKER_IMAGE,
    ),
    Variable(
        "MISTRAL_EXECUTOR_HUMANEVAL",
        "humaneval",
        _path,
        "HumanEval data file of `mistral-executor bench`.",
        "../shared/benchmarks/HumanEval.jsonl.gz if present",
    ),
    Variable(
        "MISTRAL_EXECUTOR_MAX_FILE_MB",
        "max_file_mb",
        _at_least_one,
        "Largest data file a run takes, in MB (chat uploads, the API, `run --file`, `files=`).",
        "200",
    ),
    Variable(
        "MISTRAL_EXECUTOR_MAX_FILES",
        "max_files",
        _at_least_one,
        "Most data files per run or chat message.",
        "20",
    ),
    Variable(
        "MISTRAL_EXECUTOR_UI_PRIVATE",
        "ui_private",
        _flag,
        "Private mode of the web app (each visitor sees only their runs; no visitor server URL).",
        "on when SPACE_ID is set",
    ),
    Variable(
        "MISTRAL_EXECUTOR_MCP_SERVER",
        "mcp_server",
        _flag,
        "Serve the web app's endpoints as MCP tools too (Gradio's MCP server).",
        "off",
    ),
    Variable(
        "SPACE_ID",
        "space_id",
        _text,
        "Set by Hugging Face Spaces: private mode, and no docker backend.",
    ),
    Variable("DOCKER_HOST", "docker_host", _text, "Docker engine address (docker SDK's own)."),
    Variable(
        "GRADIO_SERVER_NAME",
        "gradio_server_name",
        _text,
        "Address the web app listens on (`ui --host` wins).",
        "127.0.0.1",
    ),
    Variable(
        "GRADIO_SERVER_PORT",
        "gradio_server_port",
        _port,
        "Port the web app listens on (`ui --port` wins).",
        "7860",
    ),
    Variable(
        "XDG_CACHE_HOME",
        "cache_home",
        _path,
        "Cache directory (matplotlib's font cache for the restricted sandbox).",
        "~/.cache",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The process's configuration. Unset variables take the defaults below."""

    api_key: str | None = field(default=None, repr=False)
    server_url: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 3
    model_planner: str | None = None
    model_coder: str | None = None
    model_vision: str | None = None
    model_embeddings: str | None = None
    model_ocr: str | None = None
    home: Path = field(default_factory=lambda: Path(DEFAULT_HOME).expanduser())
    sandbox: str = "auto"
    run_timeout_s: float = 600.0
    review_timeout_s: float = 300.0
    plugins_dir: Path | None = None
    #: None: every installed plugin; a tuple (maybe empty): only those names.
    load_plugins: tuple[str, ...] | None = None
    #: None: the connectors' own default set.
    mistral_connectors: tuple[str, ...] | None = None
    web_search: str = "web_search"
    docker_image: str = DEFAULT_DOCKER_IMAGE
    humaneval: Path | None = None
    max_file_mb: int = 200
    max_files: int = 20
    #: None: decided by ``space_id`` (see :attr:`private`).
    ui_private: bool | None = None
    mcp_server: bool = False
    space_id: str | None = None
    docker_host: str | None = None
    gradio_server_name: str = "127.0.0.1"
    gradio_server_port: int = 7860
    cache_home: Path = field(default_factory=lambda: Path("~/.cache").expanduser())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse ``environ`` (default ``os.environ``). Raises :class:`SettingsError` naming the
        first variable whose value is unusable. Blank values count as unset (except where an
        empty list means "none")."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = env.get(var.env)
            if raw is None:
                continue
            text = raw.strip()
            if not text and not var.empty_is_value:
                continue
            values[var.field] = var.parse(var.env, text)
        return cls(**values)

    @property
    def models(self) -> dict[str, str]:
        """Role -> model overrides from ``MISTRAL_MODEL_<ROLE>``."""
        chosen = {role: getattr(self, f"model_{role}") for role in MODEL_ROLES}
        return {role: model for role, model in chosen.items() if model}

    @property
    def on_hf_space(self) -> bool:
        return bool(self.space_id)

    @property
    def private(self) -> bool:
        """The web app's private mode: the explicit flag, else on a Hugging Face Space."""
        return self.on_hf_space if self.ui_private is None else self.ui_private


_cached: Settings | None = None
_lock = threading.Lock()


def get_settings() -> Settings:
    """The process's settings, read from the environment on first use and then cached."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = Settings.from_env()
        return _cached


def reset_settings() -> None:
    """Forget the cached settings (tests that change the environment)."""
    global _cached
    with _lock:
        _cached = None


def markdown_table() -> str:
    """The table of ``docs/settings.md``: every variable, its default and its meaning."""
    names = {f.name for f in fields(Settings)}
    lines = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for var in VARIABLES:
        assert var.field in names, var.field
        lines.append(f"| `{var.env}` | {var.default_text} | {var.meaning} |")
    return "\n".join(lines) + "\n"
