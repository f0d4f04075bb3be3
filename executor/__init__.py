"""The Mistral client layer and the Scout / Mechanic / Inspector / Iterate loop.

``from executor import Executor, autonomous_execute`` is the public entry point
(``MistralAutonomousExecutor`` is the same executor under the seed documents' name); the result and
trace types below are what callers (CLI, UI, plugins) read.
"""

from executor.conversation import Conversation, Turn
from executor.datafiles import DataFileError
from executor.loop import Executor, autonomous_execute
from executor.results import (
    Attempt,
    CheckResult,
    ExecutionResult,
    Failure,
    Plan,
    RunUsage,
    TraceEvent,
    Verdict,
)
from executor.review import ReviewDecision, ReviewRequest
from executor.run_context import Cancelled, CancelToken
from executor.seed import MistralAutonomousExecutor
from executor.stream import RunStream
from executor.trace_store import TraceStore, executor_home
from plugins.tools import FunctionTool, SimpleToolProvider, ToolProvider

__all__ = [
    "Attempt",
    "CancelToken",
    "Cancelled",
    "CheckResult",
    "Conversation",
    "DataFileError",
    "ExecutionResult",
    "Executor",
    "Failure",
    "MistralAutonomousExecutor",
    "FunctionTool",
    "Plan",
    "RunStream",
    "ReviewDecision",
    "ReviewRequest",
    "RunUsage",
    "SimpleToolProvider",
    "ToolProvider",
    "TraceEvent",
    "TraceStore",
    "Turn",
    "Verdict",
    "autonomous_execute",
    "executor_home",
]
