import os
import sys
from pathlib import Path

# Tests never reach a hub and never log online.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def toy_data_root(tmp_path_factory) -> Path:
    """A data root holding the embedded toy dataset, generated once per test session."""
    from rns_bench.toy.dataset import TOY_SEED
    from rns_bench.toy.files import ensure_toy_dataset

    if os.environ.get("PYTEST_XDIST_WORKER"):  # one per run, shared by the workers (the writer holds a lock)
        root = tmp_path_factory.getbasetemp().parent / "data"
    else:
        root = tmp_path_factory.mktemp("data")
    ensure_toy_dataset(root, TOY_SEED)
    return root


EARLY_FIRST = "early"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``early`` (minutes of subprocesses) start first, so parallel workers end together."""
    items.sort(key=lambda item: item.get_closest_marker(EARLY_FIRST) is None)


@pytest.fixture
def torch_threads():
    """``torch_threads(n)`` sets torch's intra-op thread count for the test; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)
