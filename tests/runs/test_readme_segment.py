"""The open-world examples of the README and docs/open-world.md run exactly as written (so they cannot drift):
the Python block of "OpenWorldSegmenter" in process, each distinct shell block marked segment-example (the
README's and "Segment your own images") through bash with the venv's Python, in a temporary folder, offline,
on the toy world."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest
from doc_blocks import marked_block, marked_blocks
from PIL import Image

SEGMENT_BLOCKS = sorted({block.body for block in marked_blocks("segment-example", "bash")})


def test_the_open_world_python_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its cache_dir=".cache/features" lands here
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        block = marked_block("open-world-example", "python")
        exec(compile(block.body, block.where, "exec"), {"__name__": "readme"})
    assert printed.getvalue().strip() == "{'support': 2, 'test': 1} 5"  # 3 names + "my dog" + "sofa"
    assert any((tmp_path / ".cache" / "features").rglob("*.safetensors"))


@pytest.mark.early
@pytest.mark.parametrize("block", SEGMENT_BLOCKS, ids=[f"block{i}" for i in range(len(SEGMENT_BLOCKS))])
def test_the_segment_shell_example_runs_as_written(block, tmp_path):
    venv_python = tmp_path / ".venv" / "bin" / "python"  # the docs' path, onto this interpreter
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(0o755)
    try:
        done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the segment example ran past 300 s: {error}")
    assert done.returncode == 0, done.stderr[-2000:]
    for out in ("out", "out_knn"):
        labels = sorted((tmp_path / "demo" / out / "labels").glob("*.png"))
        assert [p.stem for p in labels] == [f"scene_{i}" for i in range(4)]
        assert Image.open(labels[0]).mode == "P"
        assert (tmp_path / "demo" / out / "classes.txt").read_text().count("\n") == 17
    assert "extracted 0 support and 0 test image(s)" in done.stdout.splitlines()[-1]  # the second run: the cache
