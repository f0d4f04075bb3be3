"""The names the project's seed design documents use, so their examples run unchanged.

The seed calls the executor ``MistralAutonomousExecutor`` and passes the key as
``mistral_api_key=``. This is the same ``Executor`` under that name: one implementation, two
spellings, so nothing drifts between them. The result type is already the seed's
(``success``, ``plan``, ``artifacts``, ``final_output``, ``total_attempts``,
``total_duration_ms``, ``errors``, ``iterations``).
"""

from __future__ import annotations

from typing import Any

from executor.loop import Executor


class MistralAutonomousExecutor(Executor):
    """``Executor`` under the seed's name; accepts ``mistral_api_key=`` as well as ``api_key=``.

    ``execute(task, context="", language="python", validate_output=True)`` is inherited as is.
    """

    def __init__(
        self,
        mistral_api_key: str | None = None,
        *args: Any,
        api_key: str | None = None,
        **options: Any,
    ) -> None:
        if mistral_api_key is not None and api_key is not None and mistral_api_key != api_key:
            raise ValueError("pass the key once: mistral_api_key= and api_key= disagree")
        super().__init__(
            mistral_api_key if mistral_api_key is not None else api_key, *args, **options
        )
