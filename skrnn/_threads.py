"""Threads: BLAS pinned to one thread, and the worker threads of ``n_jobs``."""

import itertools
import os
import queue
import threading
from contextlib import contextmanager

import threadpoolctl
from joblib import effective_n_jobs
from threadpoolctl import ThreadpoolController

from ._kernels._sync import Semaphore

_BLAS_LOCK = threading.Lock()
_BLAS_STATE = {"controller": None, "limiter": None, "users": 0}


def _release_openblas_control():
    """Let the calling thread set OpenBLAS's thread count.

    A pthreads OpenBLAS has one process-wide pool, so threadpoolctl lets only
    one "controlling" thread change it and silently ignores the others. Our
    limit is process-wide and reference-counted under _BLAS_LOCK, and may be
    set by one thread and restored by another (a joblib worker), so control
    is released around both; otherwise fits in worker threads ran a
    multi-threaded BLAS, oversubscribed and no longer equal to serial fits.
    """
    controller = getattr(threadpoolctl, "OpenBLASController", None)
    clear = getattr(controller, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


@contextmanager
def single_threaded_blas():
    """Context in which BLAS runs on one thread.

    The recurrent loop alternates small products with gate arithmetic, and
    idle BLAS worker threads spinning between the products slow it many-fold.
    Parallelism comes from skrnn's own threads (:class:`Threads`, over shards
    and blocks of sequences) and from fits side by side (joblib), which the
    kernels do not block because they release the GIL.

    The limit is process-wide, so concurrent fits and predicts share one: the
    first to enter sets it and the last to leave restores the original
    thread counts, whatever order the threads finish in.
    """
    with _BLAS_LOCK:
        if _BLAS_STATE["users"] == 0:
            if _BLAS_STATE["controller"] is None:
                _BLAS_STATE["controller"] = ThreadpoolController()
            _release_openblas_control()
            _BLAS_STATE["limiter"] = _BLAS_STATE["controller"].limit(
                limits=1, user_api="blas")
            _release_openblas_control()
        _BLAS_STATE["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["users"] -= 1
            if _BLAS_STATE["users"] == 0:
                _release_openblas_control()
                _BLAS_STATE["limiter"].restore_original_limits()
                _BLAS_STATE["limiter"] = None
                _release_openblas_control()


# Worker threads every fit and predict of this process hold, so that fits run
# side by side (joblib's threading backend) never hold more than the cores.
_BUDGET_LOCK = threading.Lock()
_BUDGET = {"in_use": 0}


# Worker threads of the process, made on first use and kept (starting a
# thread was a fixed cost of every predict); idle ones wait in _IDLE. The
# budget above, not this pool, decides how many a call uses.
_IDLE = queue.SimpleQueue()
# How long a hand-off spins before it sleeps (see skrnn._kernels._sync): a
# worker waiting for the next minibatch's shard, the caller for a worker's.
_SPIN_SECONDS = 0.5e-3


class _Worker:
    """A thread that runs one job at a time: ``start(job)`` hands it over,
    ``join()`` waits for it to end. A job must not raise."""

    def __init__(self):
        self._go, self._done = Semaphore(), Semaphore()
        self._job = None
        # Daemon: an idle worker must not keep the interpreter from exiting.
        threading.Thread(target=self._loop, name="skrnn-worker",
                         daemon=True).start()

    def _loop(self):
        self._go.wait(_SPIN_SECONDS)
        while True:
            self._job()
            self._job = None
            # The GIL is released before the caller is told, so it does
            # not wake to find this thread holding it.
            self._done.post_then_wait(self._go, _SPIN_SECONDS)

    def start(self, job):
        self._job = job
        self._go.post()

    def join(self):
        self._done.wait(_SPIN_SECONDS)


def _take_worker():
    try:
        return _IDLE.get_nowait()
    except queue.Empty:
        return _Worker()


def _forget_workers():
    # A forked child has none of the parent's threads: it makes its own.
    global _IDLE
    _IDLE = queue.SimpleQueue()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def available_cpus():
    """The cores this process may use: its CPU affinity, capped by
    ``OMP_NUM_THREADS`` where set (joblib sets it in the worker processes of
    a parallel search to cores // workers)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        cap = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        cap = 0
    return max(1, min(n, cap) if cap > 0 else n)


def n_threads(n_jobs):
    """Threads for ``n_jobs`` (scikit-learn's meaning), at most the cores."""
    return max(1, min(effective_n_jobs(n_jobs), available_cpus()))


class Threads:
    """Up to ``n_threads(n_jobs)`` threads, fewer if other fits and predicts
    of the process already hold the cores (the calling thread counts as one).

    ``map(fn, items)`` runs ``fn`` on every item and returns the results in
    the items' order; ``slots(make)`` is a pool of per-task resources (work
    spaces), one per thread, that a task takes and gives back.
    Use as a context manager; the threads are released on exit.
    """

    def __init__(self, n_jobs):
        self._wanted = n_threads(n_jobs)
        self.size = 1

    def __enter__(self):
        with _BUDGET_LOCK:
            free = available_cpus() - _BUDGET["in_use"]
            self.size = max(1, min(self._wanted, free))
            _BUDGET["in_use"] += self.size
        return self

    def __exit__(self, *exc):
        with _BUDGET_LOCK:
            _BUDGET["in_use"] -= self.size
        return False

    def map(self, fn, items, idle=None):
        """``[fn(item) for item in items]`` on the threads; ``idle()``, if
        given, runs on the calling thread once no item is left for it, while
        the others finish theirs (not at all without other threads)."""
        items = list(items)
        if self.size < 2 or len(items) < 2:
            return [fn(item) for item in items]
        results = [None] * len(items)
        taken = itertools.count()
        errors = []

        def drain():
            # Every thread, the caller's too, takes the next item when free;
            # after a failure none starts another.
            for i in iter(lambda: next(taken), None):
                if i >= len(items) or errors:
                    return
                try:
                    results[i] = fn(items[i])
                except BaseException as exc:
                    errors.append(exc)
                    return

        # The calling thread works too: size - 1 helpers. A helper is listed
        # once it has its job, so an interrupt never leaves one to wait for.
        helpers = []
        try:
            for _ in range(min(self.size, len(items)) - 1):
                try:
                    worker = _take_worker()
                except RuntimeError:
                    # No new thread at interpreter shutdown (an atexit
                    # handler predicts): the caller drains what is left.
                    break
                worker.start(drain)
                helpers.append(worker)
            drain()
            if idle is not None and helpers and not errors:
                try:
                    idle()
                except BaseException as exc:
                    errors.append(exc)
        finally:
            # Every task ends before map returns or raises: none writes after.
            for worker in helpers:
                worker.join()
                _IDLE.put(worker)
        if errors:
            raise errors[0]
        return results

    def slots(self, make):
        pool = queue.SimpleQueue()
        for _ in range(self.size):
            pool.put(make())
        return pool
