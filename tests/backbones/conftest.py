import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    # Tiny models are overhead-bound: a second OpenMP thread only adds synchronisation (10× slower
    # on a busy 2-core machine). Restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
