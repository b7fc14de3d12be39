"""The embedded toy dataset on disk: deterministic bytes, VOC layout, atomic and concurrent writes."""

import json
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from rns_bench.data.readers.voc_layout import VOCLayout, VOCReader
from rns_bench.toy.files import MANIFEST, ensure_toy_dataset, toy_dataset_dir, write_toy_dataset
from rns_bench.toy.world import ToyWorld

N_TRAIN, N_VAL = 15, 4  # 15 train images: every foreground class is the main object once


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), seed=0, n_train=N_TRAIN, n_val=N_VAL)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(toy_dir: Path, tmp_path: Path) -> None:
    again = write_toy_dataset(tmp_path / "again", seed=0, n_train=N_TRAIN, n_val=N_VAL)
    assert _files(again) == _files(toy_dir)
    other = _files(write_toy_dataset(tmp_path / "other", seed=1, n_train=N_TRAIN, n_val=N_VAL))
    assert other.keys() == _files(toy_dir).keys()
    assert other["JPEGImages/train_0000.jpg"] != _files(toy_dir)["JPEGImages/train_0000.jpg"]


def test_layout_is_readable_by_the_voc_reader(toy_dir: Path) -> None:
    world = ToyWorld(0)
    reader = VOCReader(VOCLayout(toy_dir), num_classes=world.num_classes)
    assert reader.image_ids("train") == [f"train_{i:04d}" for i in range(N_TRAIN)]
    assert reader.image_ids("val") == [f"val_{i:04d}" for i in range(N_VAL)]
    present = np.zeros(world.num_classes, bool)
    sizes = set()
    for image_id in reader.image_ids("train") + reader.image_ids("val"):
        image, label = reader.read_image(image_id), reader.read_label(image_id)  # validates values < K
        assert image.shape[:2] == label.shape
        assert min(label.shape) >= 160 and max(label.shape) <= 256
        sizes.update(label.shape)
        values = np.unique(label)
        assert 255 in values and 0 in values  # a boundary band and background everywhere
        present[values[values != 255]] = True
    assert present.all()  # every class occurs
    assert any(size % 16 for size in sizes)  # sides are not all multiples of the patch size


def test_class_list_matches_the_world_and_the_package_file(toy_dir: Path) -> None:
    manifest = json.loads((toy_dir / MANIFEST).read_text())
    package_file = resources.files("rns_bench.data").joinpath("classes", "toy.txt").read_text().split("\n")
    assert manifest["classes"] == ToyWorld(0).class_names == [n for n in package_file if n]
    assert manifest["classes"][0] == "background" and 12 <= len(manifest["classes"]) <= 20
    assert manifest["seed"] == 0 and manifest["counts"] == {"train": N_TRAIN, "val": N_VAL}


def test_ensure_writes_only_when_missing(tmp_path: Path) -> None:
    folder = ensure_toy_dataset(tmp_path, seed=3, n_train=2, n_val=1)
    assert folder == toy_dataset_dir(tmp_path, 3)
    stamp = (folder / MANIFEST).stat().st_mtime_ns
    assert ensure_toy_dataset(tmp_path, seed=3, n_train=2, n_val=1) == folder
    assert (folder / MANIFEST).stat().st_mtime_ns == stamp  # not rewritten


def test_leftovers_of_an_interrupted_write_are_not_taken_as_complete(tmp_path: Path) -> None:
    target = toy_dataset_dir(tmp_path, 0)
    # A crashed writer's staging folder, and a final-named folder without a manifest.
    staging = target.parent / f".{target.name}.tmp-999-deadbeef"
    (staging / "JPEGImages").mkdir(parents=True)
    (target / "JPEGImages").mkdir(parents=True)
    (target / "JPEGImages" / "train_0000.jpg").write_bytes(b"half")
    folder = ensure_toy_dataset(tmp_path, seed=0, n_train=2, n_val=1)
    reader = VOCReader(VOCLayout(folder), num_classes=16)
    assert reader.read_image("train_0000").shape[2] == 3
    assert not staging.exists()


def test_a_killed_writer_leaves_no_dataset_under_the_final_name(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path; from rns_bench.toy.files import write_toy_dataset; "
        f"write_toy_dataset(Path({str(tmp_path)!r}), seed=0, n_train=2000, n_val=10)"
    )
    writer = subprocess.Popen([sys.executable, "-c", code])
    target = toy_dataset_dir(tmp_path, 0)
    # Waits for the first image however slow the machine (a loaded CI imports torch in tens of seconds);
    # the writer needs far longer for 2000 images than this loop needs to notice the first one.
    deadline = time.monotonic() + 600
    while not any(target.parent.glob(".seed0.tmp-*/JPEGImages/*.jpg")):
        assert writer.poll() is None, "the writer ended before writing its first image"
        assert time.monotonic() < deadline, "the writer wrote no image in 10 minutes"
        time.sleep(0.05)
    writer.kill()
    writer.wait()
    assert any(target.parent.glob(".seed0.tmp-*")), "the writer should have been mid-way"
    assert not target.exists()
    # The next caller cleans up and writes a complete dataset.
    folder = ensure_toy_dataset(tmp_path, seed=0, n_train=2, n_val=1)
    assert (folder / MANIFEST).is_file() and not any(target.parent.glob(".seed0.tmp-*"))


def test_concurrent_writers_agree(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path; from rns_bench.toy.files import ensure_toy_dataset; "
        f"print(ensure_toy_dataset(Path({str(tmp_path)!r}), seed=0, n_train=6, n_val=2))"
    )
    writers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [w.communicate(timeout=60)[0].strip() for w in writers]
    assert all(w.returncode == 0 for w in writers)
    assert set(outputs) == {str(toy_dataset_dir(tmp_path, 0))}
    expected = write_toy_dataset(tmp_path / "reference", seed=0, n_train=6, n_val=2)
    assert _files(Path(outputs[0])) == _files(expected)
