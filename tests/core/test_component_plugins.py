"""Components registered outside their registry's package (the toy world) are found through the
``rns_bench.components`` entry-point group on a registry's first miss: no module imports them for their side
effect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_fresh_process_finds_the_toy_backbone_and_dataset_without_importing_the_toy_package():
    code = (
        "import sys\n"
        "from rns_bench.backbones import build_backbone\n"
        "from rns_bench.data.datasets import DATASETS\n"
        "assert 'rns_bench.toy' not in sys.modules\n"
        "print(type(build_backbone('toy_vlm')).__name__, 'toy' in DATASETS, 'rns_bench.toy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["ToyVLM", "True", "True"]


def test_no_module_imports_the_toy_package_for_its_side_effect():
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "rns_bench").rglob("*.py")
        if "import rns_bench.toy  #" in path.read_text() or "import rns_bench.toy\n" in path.read_text()
    ]
    assert offenders == []
