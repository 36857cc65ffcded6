"""The demo's runs, several at once in worker processes of one torch thread each."""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence


class Workers:
    """``count`` spawned processes of one thread each, kept for every stage of a demo run (starting one
    costs seconds of imports); with ``count`` 1 the runs go in this process, one after another.

    Every run of a stage goes to a worker, however few runs are left: a run's numbers depend on the
    threads it computes with, so a resumed or partial stage must not run some of them here.
    """

    def __init__(self, count: int) -> None:
        self.count = max(1, count)
        self._pool = None

    def __enter__(self) -> 'Workers':
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            # spawn, not fork: a forked copy of a process that has run torch's thread pools can hang
            self._pool = ProcessPoolExecutor(self.count, mp_context=multiprocessing.get_context('spawn'),
                                             initializer=_one_thread_worker, initargs=(os.getpid(),))
        return self._pool

    def run_all(self, jobs: Sequence[Any], work: Callable[[Any], Any], started: Callable[[Any], float],
                finished: Callable[[Any, float, Any], None]) -> None:
        """``work(job)`` for every job, ``count`` at a time, in order. ``work`` is a picklable callable (a
        module-level function, or a ``functools.partial`` of one). On this process, ``started(job)`` is
        called when a worker takes the job and returns its start time; ``finished(job, start, result)``
        as each job ends. An error in a run is raised here once the runs already handed out have ended."""
        todo = list(jobs)
        if self.count == 1:
            for job in todo:
                t = started(job)
                finished(job, t, work(job))
            return
        from concurrent.futures import FIRST_COMPLETED, wait
        pool, running = self._executor(), {}

        def submit() -> None:  # a job is announced when a worker is free for it
            job = todo.pop(0)
            running[pool.submit(work, job)] = (job, started(job))

        for _ in range(min(self.count, len(todo))):
            submit()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job, t = running.pop(future)
                if future.exception() is not None:
                    todo.clear()  # let the others end, then raise
                    wait(running)
                    raise future.exception()
                finished(job, t, future.result())
                if todo:
                    submit()


def _one_thread_worker(parent: int) -> None:
    """A worker: one torch thread (two such processes on two cores finish about twice the runs of one
    process of two threads: the demo's layers are too small to split well), the parent's warning filters,
    and no life after the demo's process (``_end_with``)."""
    import warnings
    _end_with(parent)

    import torch
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore', category=UserWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)


def _end_with(parent: int) -> None:
    """End this worker when the demo's process ``parent`` ends, however it ends (a kill included): an orphan
    would go on training into the folder of a run that the next demo resumes. Linux's parent-death signal
    where there is one, else a thread that watches the parent."""
    import signal
    try:
        import ctypes
        pr_set_pdeathsig = 1
        if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), 'prctl(PR_SET_PDEATHSIG) failed')
    except (OSError, AttributeError):
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)
        threading.Thread(target=watch, name='end-with-demo', daemon=True).start()
    if os.getppid() != parent:  # it ended before the signal was asked for
        os._exit(1)
