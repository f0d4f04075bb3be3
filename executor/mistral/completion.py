"""Reading a whole chat completion: the guarded call, then its reply as a ``ChatReply``.

The counterpart of ``streaming.py``, split from ``client.py`` the same way:
``MistralClient.chat`` chooses the model and builds the request, this module makes the call and
reads what came back. A 200 the SDK's strict models reject (a self-hosted server omitting a
field) is read from its raw JSON; only a reply that is not a chat completion at all is a
``MalformedReplyError``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from executor.mistral.chat import ChatReply, reply_from_completion
from executor.mistral.errors import MalformedReplyError
from executor.mistral.schema import parse_structured

if TYPE_CHECKING:
    from executor.mistral.client import MistralClient


def complete(
    client: MistralClient,
    request: dict[str, Any],
    model_id: str,
    *,
    timeout_s: float | None,
    role: str | None,
    response_schema: dict[str, Any] | None,
) -> ChatReply:
    """One completion of ``request`` (the SDK's keyword arguments), its tokens counted in
    ``client.usage``; with ``response_schema``, ``reply.parsed`` is the validated object."""
    from mistralai.client.errors import ResponseValidationError

    def attempt(timeout_ms: int) -> dict[str, Any]:
        try:
            response = client.sdk.chat.complete(**request, timeout_ms=timeout_ms)
        except ResponseValidationError as exc:
            # A 200 the SDK's strict models reject (e.g. a self-hosted server omitting a
            # field): read it tolerantly; only unreadable JSON is a malformed reply.
            data = _json_object(exc.body)
            if data is None:
                raise
            return data
        return response.model_dump(mode="json", by_alias=True)

    started = time.perf_counter()
    data = client._guard.call(
        f"chat with model '{model_id}'", model_id, attempt, timeout_s=timeout_s, role=role
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    try:
        reply = reply_from_completion(data, requested_model=model_id, duration_ms=elapsed_ms)
    except ValueError as exc:
        raise MalformedReplyError(
            f"The reply from {client.server_url} is not a chat completion ({exc})."
        ) from None
    client.usage.record(reply.model, reply.usage)
    if response_schema is not None:
        reply.parsed = parse_structured(reply, response_schema)
    return reply


def _json_object(body: str | None) -> dict[str, Any] | None:
    try:
        data = json.loads(body or "")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
