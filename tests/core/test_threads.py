import threading

import pytest
import torch

from rns_bench.core.threads import run_side_by_side


def test_jobs_run_in_their_own_threads_sharing_the_cores_and_return_in_order(torch_threads):
    torch_threads(4)
    barrier = threading.Barrier(2, timeout=10)  # both jobs must be running at once to pass it

    def job(value):
        barrier.wait()
        return value, torch.get_num_threads(), threading.current_thread().name

    results = run_side_by_side([lambda: job("a"), lambda: job("b")])
    assert [value for value, _, _ in results] == ["a", "b"]
    assert all(threads == 2 for _, threads, _ in results)  # 4 intra-op threads shared by 2 jobs
    assert results[0][2] != results[1][2]
    assert torch.get_num_threads() == 4


def test_one_job_runs_here_and_a_failing_job_still_restores_the_thread_count(torch_threads):
    torch_threads(4)
    assert run_side_by_side([lambda: threading.current_thread().name]) == [threading.current_thread().name]

    def fails():
        raise ValueError("job failed")

    with pytest.raises(ValueError, match="job failed"):
        run_side_by_side([lambda: 1, fails, lambda: 3])
    assert torch.get_num_threads() == 4
