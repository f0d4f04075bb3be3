"""The Mistral client layer: every model call of the project goes through here.

Usage::

    from executor.mistral import MistralClient, image_chunk
    client = MistralClient()                       # MISTRAL_API_KEY / MISTRAL_SERVER_URL
    reply = client.chat([{"role": "user", "content": "hi"}], role="planner")
    for item in client.stream(messages, role="coder"):   # StreamDelta..., then the ChatReply
        ...
    run = client.with_usage()                      # per-run usage; also counted in client.usage
    run.chat(...); run.usage.snapshot()

Modules: client (MistralClient), config (settings, SDK construction), models (listing, roles,
capabilities), chat (requests/replies), guard (how every request is made: retries in one time
budget, the circuit breaker, error translation), retry (backoff, circuit breaker), completion and
streaming (reading a whole or a streamed reply), errors, usage (tokens, cost), media
(images/documents as chunks), schema (structured-output validation), embeddings_ocr.
"""

from executor.mistral.chat import ChatReply, StreamDelta, ToolCall, tool_result_message
from executor.mistral.client import MistralClient
from executor.mistral.config import DEFAULT_SERVER_URL, ROLES, ClientConfig
from executor.mistral.embeddings_ocr import OcrResult
from executor.mistral.errors import (
    AuthenticationError,
    BadRequestError,
    CapabilityError,
    CircuitOpenError,
    MalformedReplyError,
    MistralError,
    ModelNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServerUnreachableError,
)
from executor.mistral.media import NotAnImageError, document_chunk, image_chunk, text_chunk
from executor.mistral.models import ROLE_DEFAULTS, ROLE_NEEDS, ModelInfo, builtin_models
from executor.mistral.usage import Usage, UsageSnapshot, UsageTracker

__all__ = [
    "DEFAULT_SERVER_URL",
    "ROLES",
    "ROLE_DEFAULTS",
    "ROLE_NEEDS",
    "AuthenticationError",
    "BadRequestError",
    "CapabilityError",
    "ChatReply",
    "CircuitOpenError",
    "ClientConfig",
    "MalformedReplyError",
    "MistralClient",
    "MistralError",
    "ModelInfo",
    "ModelNotFoundError",
    "NotAnImageError",
    "OcrResult",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "ServerUnreachableError",
    "StreamDelta",
    "ToolCall",
    "Usage",
    "UsageSnapshot",
    "UsageTracker",
    "builtin_models",
    "document_chunk",
    "image_chunk",
    "text_chunk",
    "tool_result_message",
]
