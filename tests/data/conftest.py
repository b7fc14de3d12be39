from pathlib import Path

import pytest
from data.small_toy import write_small_toy


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with the 15-image small toy dataset (tests/data/small_toy.py)."""
    root = tmp_path_factory.mktemp("data")
    write_small_toy(root)
    return root
