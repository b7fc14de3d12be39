"""Independent CPU jobs side by side, one Python thread each, splitting torch's intra-op threads.

torch releases the GIL inside its kernels, so threads that each run their own small tensors keep
every core busy. On this suite's 2-core machines that beats one job with two intra-op threads
per op (RNS training at K = 21: 1.6×), which splits every op's data across the cores anew and
pays for moving the data a core wrote one op earlier to the other core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")


def run_side_by_side(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """Each job's result, in order; the cores' intra-op threads are shared out among the jobs while
    they run (torch's setting is process-wide: restored afterwards, also on error)."""
    if len(jobs) <= 1:
        return [job() for job in jobs]
    before = torch.get_num_threads()
    each = max(1, before // len(jobs))

    def run(job: Callable[[], T]) -> T:
        torch.set_num_threads(each)  # OpenMP's thread count is per calling thread
        return job()

    torch.set_num_threads(each)  # and MKL's is process-wide
    try:
        with ThreadPoolExecutor(len(jobs), thread_name_prefix="rns-bench") as pool:
            return list(pool.map(run, jobs))
    finally:
        torch.set_num_threads(before)
