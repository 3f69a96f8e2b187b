"""Micro-batching: concurrent requests of one worker share one encoder pass and one matrix product.

Under load, requests arrive while the event loop is busy scoring; the next loop iteration
finds several of them waiting. Each submits its query and awaits a future; one callback,
scheduled by the first, answers all queries collected until it runs. With one request in flight
the batch is that request alone, so an idle worker adds no delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from edgerec.serve import _metrics as metrics

logger = logging.getLogger(__name__)

Q = TypeVar("Q")
R = TypeVar("R")


class Coalescer(Generic[Q, R]):
    """Collects queries submitted in the same loop iteration and runs them as one batch."""

    def __init__(self, run: Callable[[Sequence[Q]], list[R]], max_batch: int = 64) -> None:
        self._run = run
        self._max_batch = max_batch
        self._pending: list[tuple[Q, asyncio.Future[R]]] = []
        self.batches = 0

    async def submit(self, query: Q) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((query, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch = self._pending[: self._max_batch]
        self._pending = self._pending[self._max_batch :]
        if self._pending:  # more than one batch waited: the rest go next iteration
            asyncio.get_running_loop().call_soon(self._flush)
        self.batches += 1
        metrics.BATCH_SIZE.observe(len(batch))
        try:
            answers = self._run([query for query, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
            # One bad query must not fail its neighbours: answer each alone.
            logger.warning("batch of %d failed; answering each query alone", len(batch))
            for query, future in batch:
                try:
                    answer = self._run([query])[0]
                except Exception as alone:
                    _fail(future, alone)
                else:
                    _succeed(future, answer)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            _succeed(future, answer)


# The request behind a future may have been cancelled (client gone): then nobody waits.
def _succeed(future: asyncio.Future[R], answer: R) -> None:
    if not future.done():
        future.set_result(answer)


def _fail(future: asyncio.Future[R], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
