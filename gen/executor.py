"""Where a sweep's jobs run: a ``concurrent.futures`` executor, and a progress bar over them.

:func:`executor` gives a :class:`concurrent.futures.ProcessPoolExecutor` by
default, or, for ``address`` ``"HOST:PORT"`` (or ``"tcp://..."``), the
executor of a Dask ``distributed`` client connected to that scheduler, so
that the same sweep runs on one machine or many; ``"local"`` starts a
``distributed.LocalCluster`` on this machine (what the tests use). No
scheduling of our own: :func:`run_jobs` submits every job at once and
collects them as they finish.

A job that raises does not stop the others: :func:`run_jobs` returns, per
job, its result or a :class:`JobFailed` naming the job and why.
"""

from __future__ import annotations

import contextlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

__all__ = ["executor", "run_jobs", "JobFailed", "ExecutorError", "default_workers"]


class ExecutorError(ValueError):
    """The executor asked for cannot be had; the message says which and why."""


class JobFailed(Exception):
    """A job of a sweep raised: ``name`` says which, the message why."""

    def __init__(self, name, error):
        super().__init__(f"{name}: {type(error).__name__}: {error}")
        self.name = name
        self.error = error


def default_workers():
    """Worker processes of the default pool: the CPUs this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@contextlib.contextmanager
def executor(address=None, *, workers=None, connect_timeout=10):
    """A ``concurrent.futures.Executor``: a process pool, or Dask's at ``address`` (see module doc)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ExecutorError(f"workers must be an integer >= 1, not {workers!r}")
    if address is None:
        with ProcessPoolExecutor(max_workers=workers or default_workers()) as pool:
            yield pool
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ExecutorError(f"executor {address!r} needs the 'distributed' package "
                            f"(pip install -e '.[synth]')") from None
    if address == "local":
        with LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client.get_executor()
        return
    if not isinstance(address, str) or not address:
        raise ExecutorError(f"executor address must be 'local' or HOST:PORT of a Dask scheduler, "
                            f"not {address!r}")
    try:
        client = Client(address if "://" in address else f"tcp://{address}", timeout=f"{connect_timeout}s")
    except (OSError, TimeoutError) as error:
        raise ExecutorError(f"no Dask scheduler at {address!r}: {error}") from None
    with client:
        yield client.get_executor()


def _progress(total, description):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=description, unit="job", file=sys.stderr, dynamic_ncols=True,
                disable=None)


def run_jobs(pool, jobs, description="jobs"):
    """Run ``jobs`` (a dict ``name -> (function, args, kwargs)``) on ``pool``.

    Returns ``{name: result or JobFailed}`` in the order of ``jobs``, with a
    progress bar on standard error while they run.
    """
    futures = {pool.submit(function, *args, **kwargs): name
               for name, (function, args, kwargs) in jobs.items()}
    results = {}
    bar = _progress(len(futures), description)
    try:
        for future in as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
            except Exception as error:   # a job's failure is its result; the others go on
                results[name] = JobFailed(name, error)
            if bar is not None:
                bar.set_postfix_str(name, refresh=False)
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return {name: results[name] for name in jobs}
