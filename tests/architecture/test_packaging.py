"""The suite installs as a package: its configs, class lists and the paper's numbers ship inside the wheel
(found through ``rns_bench.core.paths``), so a pip-installed suite runs from any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source")
    for name in ("rns_bench", "baselines"):  # a copy: building in the checkout would leave build/ behind
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("rns_bench-*.whl")
    return path


def test_the_wheel_holds_every_config_and_data_file_the_package_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {
        f"rns_bench/configs/{p.relative_to(REPO / 'rns_bench' / 'configs')}"
        for p in (REPO / "rns_bench" / "configs").rglob("*.yaml")
    }
    assert configs and configs <= names, sorted(configs - names)
    assert "rns_bench/configs/method/options/rns.yaml" in names and "rns_bench/report/paper/published.csv" in names
    assert {
        f"rns_bench/data/classes/{p.name}" for p in (REPO / "rns_bench" / "data" / "classes").glob("*.txt")
    } <= names
    assert not any(name.startswith(("tests/", "configs/")) for name in names)  # package code never reads tests/


@pytest.mark.slow
def test_a_pip_installed_suite_runs_a_sweep_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # the suite from the wheel; its dependencies borrowed from this environment (after the wheel on sys.path)
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RNS_DATA_ROOT": str(tmp_path / "data")}
    env.pop("PYTHONPATH", None)
    where = subprocess.check_output(
        [str(python), "-c", "import rns_bench; print(rns_bench.__file__)"], text=True, cwd=tmp_path, env=env
    )
    assert where.startswith(str(site))
    run = subprocess.run(
        [
            str(python),
            "-m",
            "rns_bench.bench",
            "dataset=toy",
            "methods=[zero_shot]",
            "shots=[1]",
            "seeds=[100]",
            "test_limit=4",
            f"results_dir={tmp_path / 'results'}",
            f"cache_dir={tmp_path / 'cache'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| zero_shot |" in run.stdout and (tmp_path / "results" / "toy" / "toy_vlm" / "full").is_dir()
