"""Worker processes that behave: they ignore Ctrl-C (their parent handles it and stops them), die
with their parent even when it is killed with SIGKILL, and are stopped at once, not waited for,
when the parent fails or is interrupted.

Without this, Ctrl-C prints a traceback from every worker, a failure in the parent waits for all
queued work to finish, and a killed parent leaves its workers running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent):
    if sys.platform.startswith("linux"):  # the kernel sends SIGKILL when the parent ends
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:  # elsewhere a thread watches for the parent's end (the worker is re-parented)
        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent ended before the above took effect
        os._exit(1)


def _start_worker(parent, initializer, initargs):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


@contextlib.contextmanager
def worker_pool(workers, initializer=None, initargs=(), mp_context=None):
    """A ``ProcessPoolExecutor`` of ``workers`` processes as described in the module docstring."""
    pool = ProcessPoolExecutor(workers, mp_context, initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))
    try:
        yield pool
    except BaseException:
        processes = list((pool._processes or {}).values())  # no public way to stop workers before 3.14
        manager = pool._executor_manager_thread  # shutdown() forgets it
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
        # Let the pool's manager thread finish closing its wake-up pipe now: at interpreter exit
        # Python 3.11 writes to that pipe and, racing a close, prints an "Exception ignored" traceback.
        if manager is not None:
            manager.join(timeout=10)
        raise
    pool.shutdown()
