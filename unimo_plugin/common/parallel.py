"""An order-preserving worker pool fed by the calling process.

Input is read in the caller, so a bad line raises there (with its file and line) instead of inside a
pool thread, and only a bounded number of batches is in flight, so memory stays flat on big corpora.
"""
import collections
import itertools
import multiprocessing
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BATCH_SIZE = 512


def batched(iterable: Iterable[T], size: int = BATCH_SIZE) -> Iterator[List[T]]:
    """Lists of up to ``size`` consecutive items."""
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def ordered_map(func: Callable[[T], R], items: Iterable[T], workers: int = 1,
                initializer: Optional[Callable[..., Any]] = None, initargs: Sequence[Any] = ()) -> Iterator[R]:
    """``map(func, items)`` on ``workers`` processes, results in input order.

    ``initializer(*initargs)`` sets up per-process state (it runs in the caller when ``workers`` is 1).
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(func, items)
        return
    with multiprocessing.Pool(workers, initializer, initargs) as pool:
        pending = collections.deque()
        for item in items:
            pending.append(pool.apply_async(func, (item,)))
            if len(pending) > 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
