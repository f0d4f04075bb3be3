"""Every failure of a model call becomes one of these, with a message a user can act on.

The SDK raises a mix of its own errors, httpx transport errors and pydantic validation errors;
callers (the executor loop, the UI, the CLI) should only need to know *what kind* of problem it is
(bad key, rate limit, missing model, dead server, garbage reply) and whether retrying can help.
``translate`` is the one place that makes that decision, and the one place that scrubs the API key
from anything that could reach a message, log or repr.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: How the advice names the way to choose a role's model (``run`` has one option per role).
_ROLE_HINT = (
    "`mistral-executor run --model-{role} NAME` or MISTRAL_MODEL_{ROLE}=NAME in the environment"
)


class MistralError(Exception):
    """Base class. ``retryable`` says whether the same call may succeed if tried again later."""

    retryable = False

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class AuthenticationError(MistralError):
    """The server refused the API key (401/403), or none was given where one is needed."""


class RateLimitError(MistralError):
    """429: too many requests or tokens; still failing after the retries."""

    retryable = True


class ModelNotFoundError(MistralError):
    """The model name is not known to the server (or to the model listing)."""


class CapabilityError(MistralError):
    """The chosen model cannot do what was asked (vision, tool calls, OCR, embeddings...)."""


class ServerUnreachableError(MistralError):
    """No HTTP answer: connection refused, DNS failure, connection dropped mid-reply."""

    retryable = True


class RequestTimeoutError(ServerUnreachableError):
    """The server did not answer within the request timeout."""


class ServerError(MistralError):
    """A 5xx answer that persisted through the retries."""

    retryable = True


class BadRequestError(MistralError):
    """The server rejected the request itself (400/422): a bug in what we sent, not a transient."""


class MalformedReplyError(MistralError):
    """The server answered 200 but the body is not a usable reply (bad JSON, schema mismatch).

    ``reply`` holds the ChatReply when the transport worked but structured output did not validate,
    so a caller can show the raw text or ask the model again.
    """

    def __init__(self, message: str, *, reply: Any = None, status: int | None = None):
        super().__init__(message, status=status)
        self.reply = reply


class CircuitOpenError(MistralError):
    """Calls are paused after repeated failures; ``retry_after_s`` says when the next try happens."""


def redact(text: str, secret: str | None) -> str:
    """Remove the secret (and its bearer form) from text that may end up in a message or log."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def looks_like_html(body: str | None) -> bool:
    start = (body or "").lstrip()[:200].lower()
    return start.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in start


def _is_json(body: str | None) -> bool:
    try:
        json.loads(body or "")
    except ValueError:
        return False
    return True


def _html_summary(body: str) -> str:
    """An HTML page in a few words: a login portal, a proxy's error page, a wrong URL."""
    title = _HTML_TITLE.search(body)
    text = " ".join(title.group(1).split())[:120] if title else ""
    return f"an HTML page titled {text!r}" if text else "an HTML page"


def _body_message(body: str | None) -> str:
    """The human part of an error body: Mistral's ``message``/``detail``, else a short snippet."""
    if not body:
        return ""
    if looks_like_html(body):
        return _html_summary(body)
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    if isinstance(data, dict):
        if isinstance(data.get("message"), str):
            return data["message"]
        detail = data.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            parts = []
            for item in detail[:5]:
                if isinstance(item, dict):
                    where = ".".join(str(p) for p in item.get("loc", []))
                    parts.append(f"{where}: {item.get('msg', '')}".strip(": "))
            return "; ".join(parts)
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    return body.strip()[:300]


def _retry_after_seconds(headers: Any) -> float | None:
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: rare from Mistral; fall back to our own backoff


def not_an_api_reply(status: int, body: str | None, *, server_url: str, what: str) -> MistralError:
    """A successful status whose body is not JSON: usually not the API at all (a login portal,
    a proxy page, a wrong MISTRAL_SERVER_URL)."""
    if looks_like_html(body):
        kind = _html_summary(body or "")
    else:
        kind = f"something that is not JSON: {(body or '').strip()[:120]!r}"
    return MalformedReplyError(
        f"The server at {server_url} answered the request to {what} ({status}) with {kind}, not "
        "a Mistral API reply. Check that MISTRAL_SERVER_URL points at a Mistral API (or "
        "OpenAI-compatible) server, not a web page, portal or proxy.",
        status=status,
    )


def from_status(
    status: int,
    body: str | None,
    headers: Any,
    *,
    server_url: str,
    model: str | None,
    what: str,
    has_key: bool,
    role: str | None = None,
) -> MistralError:
    """Map an HTTP status that is not a usable answer (and its body) to the error a user
    understands. ``role`` (planner, coder...) lets the advice for a missing model name the
    setting that chooses it."""
    detail = _body_message(body)
    suffix = f" Server said: {detail}" if detail else ""
    if 200 <= status < 300:  # an answer, but not one the SDK could read (HTML, plain text...)
        return not_an_api_reply(status, body, server_url=server_url, what=what)
    if 300 <= status < 400:
        location = headers.get("location") if headers is not None else None
        where = f" to {location}" if location else ""
        return BadRequestError(
            f"The server at {server_url} redirects the request to {what} ({status}){where}. "
            "Set MISTRAL_SERVER_URL to the address the API really answers at.",
            status=status,
        )
    if status == 401:
        if not has_key:
            return AuthenticationError(
                f"The Mistral server at {server_url} requires an API key (401). Set MISTRAL_API_KEY "
                "(create one at https://console.mistral.ai/api-keys).",
                status=status,
            )
        return AuthenticationError(
            "The Mistral API key was rejected (401). Set MISTRAL_API_KEY to a valid key "
            "(https://console.mistral.ai/api-keys) or check MISTRAL_SERVER_URL points at the right server.",
            status=status,
        )
    if status == 403:
        return AuthenticationError(
            f"The Mistral API key is not allowed to {what} (403).{suffix}", status=status
        )
    model_problem = model is not None and ("model" in detail.lower() or status == 404)
    if status == 404 and model_problem or status == 400 and "invalid model" in detail.lower():
        if role:
            how = f"for the {role} role with " + _ROLE_HINT.format(role=role, ROLE=role.upper())
        else:
            how = "with " + _ROLE_HINT.format(role="<role>", ROLE="<ROLE>")
            how += " (roles: planner, coder, vision, embeddings, ocr)"
        return ModelNotFoundError(
            f"Model '{model}' was not found on {server_url} ({status}). Run `mistral-executor models` "
            f"to see the available models, and choose another {how}.",
            status=status,
        )
    if status == 404:
        return BadRequestError(
            f"{server_url} does not offer this endpoint (404) while trying to {what}.{suffix}",
            status=status,
        )
    if status == 429:
        return RateLimitError(
            f"Mistral rate limit hit (429) while trying to {what}.{suffix}",
            status=status,
            retry_after_s=_retry_after_seconds(headers),
        )
    if status >= 500:
        return ServerError(
            f"The Mistral server at {server_url} failed ({status}) while trying to {what}.{suffix}",
            status=status,
            retry_after_s=_retry_after_seconds(headers),
        )
    return BadRequestError(
        f"The Mistral server rejected the request to {what} ({status}).{suffix}", status=status
    )


def translate(
    exc: BaseException,
    *,
    server_url: str,
    model: str | None,
    what: str,
    api_key: str | None,
    timeout_s: float,
    role: str | None = None,
) -> MistralError:
    """Turn anything the SDK or httpx raised into a MistralError subclass, with the key scrubbed."""
    error = _translate(
        exc,
        server_url=server_url,
        model=model,
        what=what,
        has_key=bool(api_key),
        timeout_s=timeout_s,
        role=role,
    )
    error.message = redact(error.message, api_key)
    error.args = (error.message,)
    return error


def _translate(
    exc: BaseException,
    *,
    server_url: str,
    model: str | None,
    what: str,
    has_key: bool,
    timeout_s: float,
    role: str | None = None,
) -> MistralError:
    import httpx2
    import pydantic
    from mistralai.client import errors as sdk_errors

    if isinstance(exc, MistralError):
        return exc
    if isinstance(exc, sdk_errors.ResponseValidationError):
        if looks_like_html(exc.body) or not _is_json(exc.body):
            return not_an_api_reply(exc.status_code, exc.body, server_url=server_url, what=what)
        snippet = (exc.body or "").strip()[:200]
        return MalformedReplyError(
            f"The Mistral server at {server_url} sent a reply that could not be read while trying to "
            f"{what}: {exc.cause}. Body starts with: {snippet!r}",
            status=exc.status_code,
        )
    if isinstance(exc, sdk_errors.NoResponseError):
        return ServerUnreachableError(
            f"No reply from the Mistral server at {server_url} while trying to {what}."
        )
    if isinstance(exc, sdk_errors.MistralError):
        return from_status(
            exc.status_code,
            exc.body,
            exc.headers,
            server_url=server_url,
            model=model,
            what=what,
            has_key=has_key,
            role=role,
        )
    if isinstance(exc, httpx2.TimeoutException):
        return RequestTimeoutError(
            f"The Mistral server at {server_url} did not answer within {timeout_s:g} s while trying to "
            f"{what}. Try again, or raise the timeout (MISTRAL_TIMEOUT_S)."
        )
    if isinstance(exc, httpx2.ConnectError):
        return ServerUnreachableError(
            f"Cannot reach the Mistral server at {server_url} ({exc}). Check your network and "
            "MISTRAL_SERVER_URL."
        )
    if isinstance(exc, httpx2.LocalProtocolError):
        return MistralError(f"The request to {what} could not be sent ({exc}).")
    if isinstance(exc, httpx2.TransportError):
        return ServerUnreachableError(
            f"The connection to the Mistral server at {server_url} broke while trying to {what} ({exc})."
        )
    if isinstance(exc, pydantic.ValidationError):
        return BadRequestError(f"The request to {what} is not valid for the Mistral API: {exc}")
    return MistralError(f"Unexpected failure while trying to {what}: {type(exc).__name__}: {exc}")
