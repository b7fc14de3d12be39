"""``python -m rns_bench.segment`` (in process) against what goes wrong around it: cut-out masks, symlinks
planted at its outputs, an --out or --cache-dir it cannot write, a class named twice. Each refusal is one
line (exit status 2) before the backbone loads, or before any image is extracted where only the loaded
backbone can tell."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import rns_bench.segment.outputs as segment_outputs
from rns_bench.cli.segment import main
from rns_bench.segment.segmenter import OpenWorldSegmenter
from rns_bench.toy.world import ToyWorld

OUTSIDE = b"a file outside the output folder\n"


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def scenes():
    """Two dog scenes (support) and two test scenes of the toy world, with the dog's index."""
    world = ToyWorld(0)
    rng = np.random.default_rng(11)
    dog = world.class_index("dog")
    support = [world.render(rng, "train", required_class=dog) for _ in range(2)]
    tests = [world.render(rng, "val", required_class=dog)[0] for _ in range(2)]
    return {"dog": dog, "support": support, "tests": tests}


def _folder(root, scenes, mask_of):
    """root/support/dog/<i>.png + <i>_mask.png (``mask_of(image, dog pixels)``) and root/images/t<i>.png."""
    for i, (image, label) in enumerate(scenes["support"]):
        _write(root / "support" / "dog" / f"{i}.png", image)
        _write(root / "support" / "dog" / f"{i}_mask.png", mask_of(image, label == scenes["dog"]))
    for i, image in enumerate(scenes["tests"]):
        _write(root / "images" / f"t{i}.png", image)
    return root


def _grey(image, obj):
    return (obj * 255).astype(np.uint8)


def _cut_out(image, obj):
    """The photo's own colours everywhere, the object in the alpha channel only."""
    return np.dstack([image, (obj * 255).astype(np.uint8)])


def _run(capsys, root, out, *extra):
    code = main(
        [
            "--support",
            str(root / "support"),
            "--images",
            str(root / "images"),
            "--out",
            str(out),
            "--classes",
            "background",
            "--method",
            "knn_clip",
            "--cache-dir",
            str(root / "cache"),
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _refused(capsys, root, out, *extra) -> str:
    code, _, err = _run(capsys, root, out, *extra)
    err = err.strip()
    assert code == 2 and "\n" not in err and err.startswith("error: "), err
    return err


@pytest.fixture
def no_backbone(monkeypatch):
    """Fail the test if the command gets as far as loading a backbone."""

    def refuse(*args, **kwargs):
        raise AssertionError("the backbone loaded before the bad input was refused")

    monkeypatch.setattr(OpenWorldSegmenter, "create", refuse)


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: chmod the folder and everything under it read-only (restored afterwards). Root
    writes anywhere, so there the command's writability test reads the permission bits instead."""
    changed = []

    def make(folder):
        for path in [folder, *folder.rglob("*")]:
            changed.append((path, path.stat().st_mode))
            path.chmod(path.stat().st_mode & ~0o222)
        if os.geteuid() == 0:
            monkeypatch.setattr(segment_outputs, "folder_writable", lambda path: bool(path.stat().st_mode & 0o200))

    yield make
    for path, mode in reversed(changed):
        path.chmod(mode)


def test_cut_out_masks_mark_the_object_not_the_whole_picture(scenes, tmp_path, capsys):
    grey = _folder(tmp_path / "grey", scenes, _grey)
    cut = _folder(tmp_path / "cut", scenes, _cut_out)
    for root in (grey, cut):
        code, _, err = _run(capsys, root, root / "out")
        assert code == 0, err
    for i in range(2):
        from_grey = np.array(Image.open(grey / "out" / "labels" / f"t{i}.png"))
        from_cut = np.array(Image.open(cut / "out" / "labels" / f"t{i}.png"))
        np.testing.assert_array_equal(from_cut, from_grey)  # an alpha cut-out is the same mask


@pytest.mark.filterwarnings("ignore:ignoring the unreadable feature cache entry")  # the planted links' targets
def test_every_output_replaces_a_planted_symlink_and_leaves_its_target_alone(scenes, tmp_path, capsys):
    root = _folder(tmp_path, scenes, _grey)
    code, _, err = _run(capsys, root, tmp_path / "first")  # learns the cache entries' names
    assert code == 0, err
    entries = [p.relative_to(root / "cache") for p in (root / "cache").rglob("*.safetensors")]
    assert len(entries) == 4
    (root / "cache").rename(tmp_path / "first_cache")
    out = tmp_path / "out"
    planted = [
        out / "classes.txt",
        *(out / "labels" / f"t{i}.png" for i in range(2)),
        *(out / "overlays" / f"t{i}.jpg" for i in range(2)),
        *(root / "cache" / e for e in entries),
    ]
    targets = []
    for i, link in enumerate(planted):
        target = tmp_path / "outside" / f"{i}.bin"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(OUTSIDE)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        targets.append(target)
    code, _, err = _run(capsys, root, out)
    assert code == 0, err
    for link, target in zip(planted, targets, strict=True):
        assert link.is_file() and not link.is_symlink(), link
        assert target.read_bytes() == OUTSIDE, target
    assert np.array(Image.open(out / "labels" / "t0.png")).shape == scenes["tests"][0].shape[:2]


def test_a_class_named_twice_is_named_before_the_backbone_loads(scenes, tmp_path, capsys, no_backbone):
    root = _folder(tmp_path, scenes, _grey)
    err = _refused(capsys, root, tmp_path / "out", "--classes", "background,sky,background")
    assert "class 'background' is named twice in --classes (names 1 and 3); name every class once" in err
    names = tmp_path / "names.txt"
    names.write_text("sky\ndog\nsky\n")
    code = main(
        [
            "--support",
            str(root / "support"),
            "--images",
            str(root / "images"),
            "--out",
            str(tmp_path / "o"),
            "--classes-file",
            str(names),
        ]
    )
    assert code == 2 and f"class 'sky' is named twice in {names}" in capsys.readouterr().err


def test_an_out_that_is_a_file_or_read_only_is_refused_before_the_backbone_loads(
    scenes, tmp_path, capsys, no_backbone, read_only
):
    root = _folder(tmp_path, scenes, _grey)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    err = _refused(capsys, root, blocker)
    assert f"--out {blocker}: {blocker} is a file, not a folder" in err
    assert f"{blocker} is a file" in _refused(capsys, root, blocker / "out")
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(locked)
    assert f"--out {locked}: cannot write in {locked} (read-only)" in _refused(capsys, root, locked)
    assert f"cannot write in {locked} (read-only)" in _refused(capsys, root, locked / "new")
    assert not (root / "cache").exists()


def test_an_empty_read_only_cache_is_refused_before_the_backbone_loads(
    scenes, tmp_path, capsys, no_backbone, read_only
):
    root = _folder(tmp_path, scenes, _grey)
    (root / "cache").mkdir()
    read_only(root / "cache")
    err = _refused(capsys, root, tmp_path / "out")
    assert f"--cache-dir {root / 'cache'}: cannot write in {root / 'cache'} (read-only)" in err
    assert "holds no cached features" in err
    assert not (tmp_path / "out").exists()


def test_a_fully_cached_read_only_cache_serves_and_a_lacking_one_is_refused_before_extraction(
    scenes, tmp_path, capsys, read_only
):
    root = _folder(tmp_path, scenes, _grey)
    code, _, err = _run(capsys, root, tmp_path / "first")
    assert code == 0, err
    read_only(root / "cache")
    before = {p: p.stat().st_mtime_ns for p in (root / "cache").rglob("*")}
    code, out, err = _run(capsys, root, tmp_path / "second")
    assert code == 0, err
    assert "extracted 0 support and 0 test image(s)" in out
    assert {p: p.stat().st_mtime_ns for p in (root / "cache").rglob("*")} == before  # nothing written
    _write(root / "images" / "t9.png", np.flipud(scenes["tests"][0]).copy())  # an image the cache lacks
    err = _refused(capsys, root, tmp_path / "third")
    assert "is read-only and lacks the test features of 1 image(s)" in err and "--cache-dir" in err
    assert not (tmp_path / "third").exists()  # refused before any image was segmented
