"""Reading frames ahead and writing finished frames behind on worker threads, with bounded memory.

A sequence run spends much of each frame in OpenImageIO, OpenCV and OCIO (decode, colour, resize,
encode), which release the GIL. With `ReadAhead` one reader thread loads frame t+1 while the caller
computes frame t, and with `WriteBehind` one writer thread writes frame t-1 meanwhile. At most
FRAMES_IN_FLIGHT frames are held at once. Each class owns one thread, joins it when closed (a
running job always finishes: a file is never left half written) and raises a job's exception in
the caller's thread, at that job's turn.

Threads and ``--threads N`` (`bgmatte.api.set_threads`): N bounds each library's worker pool, and
work the reader or writer hands to a library runs in that pool too (OpenImageIO's and OpenCV's are
shared by all threads; torch's OpenMP team is per calling thread, so the writer's half-float
conversion may run up to N threads of its own while it lasts). The reader and writer themselves
are two I/O threads that mostly wait on files and codecs, not compute threads: a slot of N cores
runs N compute threads plus these two.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

OVERLAP = True
"""False runs every read and write in the caller's thread, one frame after another (read, compute,
write), as before overlap: for comparisons and debugging."""

READ_AHEAD = 1
"""Frames the reader thread may load ahead of the one the caller is computing."""

FRAMES_IN_FLIGHT = READ_AHEAD + 2
"""The most frames held at once: READ_AHEAD read ahead, one being computed, one being written.

The writer holds one frame only: the caller collects it before handing over the next, so a frame's
progress is reported, and a cancel seen, before the next frame is written."""


_END = object()
"""Marks the end of ReadAhead's items (an item may be None)."""


class _InThisThread(Executor):
    """An executor that runs each job at once in the caller's thread (OVERLAP off)."""

    def submit(self, fn: Callable[..., Result], /, *args, **kwargs) -> Future[Result]:
        """``fn(*args, **kwargs)`` as a finished future: its exception is raised by ``result()``, as a worker's is."""
        future: Future[Result] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 - handed to the caller by future.result()
            future.set_exception(error)
        return future


def _executor(name: str) -> Executor:
    """One named worker thread that runs jobs in the order given, or the caller's thread when OVERLAP is off."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if OVERLAP else _InThisThread()


class ReadAhead(Generic[Item, Result]):
    """Iterate over ``load(item)`` for each item, in order, loaded on one reader thread ahead of the caller.

    One thread makes every call, in the items' order, so a loader with caches (`bgmatte.frames.FrameSource`)
    is touched by that thread alone. At most ``depth`` loads run or wait beyond the one the caller
    takes; a load's exception is raised by ``next`` at its item's turn. Leaving the context drops the
    loads not started, waits for the running one and joins the thread.

    Args:
        items: what to load, in order.
        load: the loader, called on the reader thread.
        depth: loads ahead of the caller; None = READ_AHEAD (0 when OVERLAP is off: load on demand).
    """

    def __init__(self, items: Iterable[Item], load: Callable[[Item], Result], depth: int | None = None) -> None:
        self._items = iter(items)
        self._load = load
        self._depth = (READ_AHEAD if OVERLAP else 0) if depth is None else depth
        self._executor = _executor("bgmatte-read")
        self._queued: deque[Future[Result]] = deque()

    def __enter__(self) -> ReadAhead[Item, Result]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Result]:
        return self

    def __next__(self) -> Result:
        self._top_up(1)
        if not self._queued:
            raise StopIteration
        future = self._queued.popleft()
        self._top_up(self._depth)
        return future.result()

    def _top_up(self, count: int) -> None:
        """Hand the reader the next items until ``count`` loads are queued or running (or items run out)."""
        while len(self._queued) < count:
            item = next(self._items, _END)
            if item is _END:
                return
            self._queued.append(self._executor.submit(self._load, item))

    def close(self) -> None:
        """Stop reading: drop the loads not started, wait for the running one, join the thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._queued.clear()


class WriteBehind(Generic[Result]):
    """Run one job at a time on a writer thread, so the caller computes the next frame meanwhile.

    Hand a job over with `submit` and collect its result with `wait` before submitting the next;
    a job's exception is raised by `wait`, in the caller's thread. Leaving the context, even on an
    exception or KeyboardInterrupt, finishes the job handed over (a computed frame is written whole,
    never left half written or dropped at random) and joins the thread.
    """

    def __init__(self) -> None:
        self._executor = _executor("bgmatte-write")
        self._pending: Future[Result] | None = None

    def __enter__(self) -> WriteBehind[Result]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, job: Callable[[], Result]) -> None:
        """Start ``job`` on the writer thread.

        Raises:
            RuntimeError: the previous job was not collected with `wait` (the writer holds one frame).
        """
        if self._pending is not None:
            raise RuntimeError("WriteBehind holds one job: wait() for it before submitting another")
        self._pending = self._executor.submit(job)

    def wait(self) -> Result | None:
        """The result of the job handed over last, once it has finished; None when there is none.

        An interrupt while waiting leaves the job handed over, so a later `wait` still collects it.
        """
        pending = self._pending
        if pending is None:
            return None
        pending.exception()  # waits without raising the job's exception
        self._pending = None
        return pending.result()

    def close(self) -> None:
        """Stop writing: finish the job handed over, join the thread."""
        self._executor.shutdown(wait=True)
        self._pending = None
