"""Reading a chat stream: SSE events to deltas, then the complete reply, with the stream's own
failure modes (cut off, garbage, a transport error mid-stream) turned into ``MistralError``s.
Split from ``client.py``; ``MistralClient.stream`` opens the stream and hands it here."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from executor.mistral.chat import ChatReply, StreamAssembler, StreamDelta
from executor.mistral.errors import (
    MalformedReplyError,
    MistralError,
    ServerUnreachableError,
    redact,
)
from executor.mistral.schema import parse_structured

if TYPE_CHECKING:
    from executor.mistral.client import MistralClient


def read_stream(
    client: MistralClient,
    event_stream: Any,
    model_id: str,
    what: str,
    started: float,
    response_schema: dict[str, Any] | None,
) -> Iterator[StreamDelta | ChatReply]:
    """Yield the deltas of an opened stream, then the complete reply; closes the stream."""
    from mistralai.client.utils.eventstreaming import stream_events

    assembler = StreamAssembler(model_id)
    failure: MistralError | None = None
    unreadable: Any = None  # an event that is not JSON: garbage, or the last one cut off
    try:
        # The SDK's SSE framing, but our tolerant chunk reader instead of its strict models,
        # which reject OpenAI-style tool-call fragments (no function name after the first).
        for chunk in stream_events(event_stream.response, _decode_event, sentinel="[DONE]"):
            if unreadable is not None:  # more came after it: it was garbage, not a cut
                raise _not_json_event(client, unreadable)
            if not isinstance(chunk, dict):
                unreadable = chunk
                continue
            delta = assembler.feed(chunk)
            if delta is not None:
                yield delta
    except MistralError:
        raise
    except Exception as exc:  # transport failure mid-stream
        client.breaker.record_failure()
        failure = client._guard.translator(what, model_id)(exc)
    finally:
        event_stream.close()
    if failure is not None:
        # Raised outside the except block: not chained to the SDK's error (see retry.py).
        raise failure
    if unreadable is not None and assembler.finish_reason:
        raise _not_json_event(client, unreadable)
    reply = assembler.finish((time.perf_counter() - started) * 1000)
    if not assembler.finish_reason:
        # Every complete stream ends with a finish_reason; without one the reply was cut off
        # (and a last event that is not JSON is one cut in the middle).
        client.breaker.record_failure()
        cut = " in the middle of an event" if unreadable is not None else ""
        raise ServerUnreachableError(
            f"The stream from the Mistral server at {client.server_url} ended early{cut}, before "
            f"the reply was complete ({assembler.events} complete events received). The "
            "connection or a proxy closed it; try again."
        )
    client.usage.record(reply.model, reply.usage)
    if response_schema is not None:
        reply.parsed = parse_structured(reply, response_schema)
    yield reply


def _not_json_event(client: MistralClient, event: Any) -> MalformedReplyError:
    return MalformedReplyError(
        f"The stream from {client.server_url} sent an event that is not JSON: "
        f"{redact(str(event), client.config.api_key)[:200]!r}"
    )


def _decode_event(raw: str) -> Any:
    """``stream_events`` hands each SSE event as JSON ``{"data": ..., "id": ...}``."""
    return json.loads(raw).get("data")
