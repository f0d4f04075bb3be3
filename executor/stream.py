"""Live trace events from a run on a worker thread, for ``Executor.stream``.

The run happens on its own thread so that events reach the consumer the moment they are
emitted, even while the loop blocks on a model or the sandbox. A consumer that stops iterating
early (``break``, closing the generator, garbage collection) cancels the run rather than letting
it burn tokens in the background.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from executor.results import ExecutionResult, TraceEvent
from executor.run_context import CancelToken

_DONE = object()


class RunStream:
    """Iterable of ``TraceEvent``; ``result`` holds the ``ExecutionResult`` once the run ends."""

    def __init__(
        self, start: Callable[[Callable[[TraceEvent], None]], ExecutionResult], token: CancelToken
    ) -> None:
        self._start = start
        self.token = token
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._result: ExecutionResult | None = None
        self._error: BaseException | None = None
        self._iterator: Iterator[TraceEvent] | None = None

    def _work(self) -> None:
        try:
            self._result = self._start(self._queue.put)
        except BaseException as exc:  # handed to the consumer's thread
            self._error = exc
        finally:
            self._queue.put(_DONE)

    def _launch(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="executor-run", daemon=True)
            self._thread.start()

    def _events(self) -> Iterator[TraceEvent]:
        self._launch()
        finished = False
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    finished = True
                    break
                yield item
        finally:
            if not finished:
                self.token.cancel()
        if self._error is not None:
            raise self._error

    def __iter__(self) -> Iterator[TraceEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    def __next__(self) -> TraceEvent:
        return next(iter(self))

    def cancel(self) -> None:
        self.token.cancel()

    def close(self) -> None:
        """Stop consuming: cancels the run if it is still going and waits for it to end."""
        if self._iterator is not None:
            self._iterator.close()  # type: ignore[attr-defined]
        self.token.cancel()
        self.wait()

    def wait(self, timeout: float | None = None) -> ExecutionResult | None:
        self._launch()
        assert self._thread is not None
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        return self._result

    @property
    def result(self) -> ExecutionResult | None:
        """The run's result; waits for the run to end (starting it if nobody iterated yet)."""
        return self.wait()
