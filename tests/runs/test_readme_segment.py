"""The README's open-world examples run exactly as written (so they cannot drift): the Python block of
"Open-world use" in process, the shell block of "Segment your own images" through bash with the venv's
Python, both in a temporary folder, offline, on the toy world."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(marker: str, language: str) -> str:
    """The code block right after ``<!-- marker ... -->`` in the README."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker}\b[^>]*-->\s*```{language}\n(.*?)```", text, re.S)
    assert match, f"README lost its {marker} block"
    return match.group(1)


def test_the_open_world_python_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its cache_dir=".cache/features" lands here
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_block("open-world-example", "python"), str(README), "exec"), {"__name__": "readme"})
    assert printed.getvalue().strip() == "{'support': 2, 'test': 1} 5"  # 3 names + "my dog" + "sofa"
    assert any((tmp_path / ".cache" / "features").rglob("*.safetensors"))


def test_the_segment_shell_example_runs_as_written(tmp_path):
    block = readme_block("segment-example", "bash")
    venv_python = tmp_path / ".venv" / "bin" / "python"  # the README's path, onto this interpreter
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(0o755)
    try:
        done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the README's segment example ran past 300 s: {error}")
    assert done.returncode == 0, done.stderr[-2000:]
    for out in ("out", "out_knn"):
        labels = sorted((tmp_path / "demo" / out / "labels").glob("*.png"))
        assert [p.stem for p in labels] == [f"scene_{i}" for i in range(4)]
        assert Image.open(labels[0]).mode == "P"
        assert (tmp_path / "demo" / out / "classes.txt").read_text().count("\n") == 17
    assert "extracted 0 support and 0 test image(s)" in done.stdout.splitlines()[-1]  # the second run: the cache
