"""``python -m rns_bench.segment`` (in process): the README's toy example, both support layouts, the
cache, and one line per bad input naming the file or class."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rns_bench.cli.data import main as data_main
from rns_bench.cli.segment import main
from rns_bench.data.readers.label_reader import decode_image
from rns_bench.segment.folders import find_support, support_pairs
from rns_bench.segment.segmenter import OpenWorldSegmenter
from rns_bench.toy.world import ToyWorld


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("example")
    assert data_main(["toy-example", str(folder)]) == 0
    return folder


def _segment(folder, out, capsys, *extra):
    code = main(
        [
            "--support",
            str(folder / "support"),
            "--images",
            str(folder / "images"),
            "--out",
            str(out),
            "--method",
            "knn_clip",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_readme_example_writes_label_maps_and_overlays_and_a_second_run_extracts_nothing(example, tmp_path, capsys):
    cache = tmp_path / "cache"
    code, out, err = _segment(example, tmp_path / "out", capsys, "--cache-dir", str(cache))
    assert code == 0, err
    assert "extracted 32 support and 4 test image(s)" in out
    names = (example / "support" / "classes.txt").read_text().split()
    legend = (tmp_path / "out" / "classes.txt").read_text().splitlines()
    assert len(legend) == 17 and legend[16].split("\t")[1] == "my dog"
    scenes = sorted((example / "images").glob("*.jpg"))
    assert len(scenes) == 4
    # The label maps are the facade's predictions with the same support (the CLI adds nothing of its own).
    segmenter = OpenWorldSegmenter.create("toy_vlm", "knn_clip", [*names[:16], "my dog"])
    for mask in sorted((example / "support" / "masks").glob("*.png")):
        segmenter.add_support(decode_image(example / "support" / "images" / mask.name), np.array(Image.open(mask)))
    for scene in scenes:
        written = Image.open(tmp_path / "out" / "labels" / f"{scene.stem}.png")
        assert written.mode == "P"
        image = decode_image(scene)
        assert np.array_equal(np.array(written), segmenter.segment(image))
        overlay = np.asarray(Image.open(tmp_path / "out" / "overlays" / f"{scene.stem}.jpg"))
        assert overlay.shape[0] >= image.shape[0] and overlay.shape[1] > image.shape[1]  # the class legend beside it
    code, out, _ = _segment(example, tmp_path / "again", capsys, "--cache-dir", str(cache))
    assert code == 0 and "extracted 0 support and 0 test image(s)" in out


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def per_class(tmp_path):
    """Class folders dog and cat sharing one scene (a dog and a cat in it), and a cat-only scene."""
    world = ToyWorld(0)
    rng = np.random.default_rng(3)
    dog, cat = world.class_index("dog"), world.class_index("cat")
    shared, shared_label = world.render(rng, "train", required_class=dog)
    cat_image, cat_label = world.render(rng, "train", required_class=cat)
    support = tmp_path / "support"
    _write(support / "dog" / "a.png", shared)
    _write(support / "dog" / "a_mask.png", ((shared_label == dog) * 255).astype(np.uint8))
    _write(support / "cat" / "a.png", shared)
    both = ((shared_label == dog) | (shared_label == cat)).astype(np.uint8) * 255  # the dog claimed twice
    _write(support / "cat" / "a_mask.png", both)
    _write(support / "cat" / "b.png", cat_image)
    _write(support / "cat" / "b_mask.png", ((cat_label == cat) * 255).astype(np.uint8))
    _write(tmp_path / "images" / "x.png", cat_image)
    return {"folder": tmp_path, "shared_label": shared_label, "dog": dog, "cat": cat}


def test_class_folders_sharing_an_image_make_one_support_image_and_contested_pixels_are_ignored(per_class, capsys):
    support = find_support(per_class["folder"] / "support", ["background"])
    assert support.class_names == ["background", "cat", "dog"]
    pairs = support_pairs(support)
    assert len(pairs) == 2  # a.png in two folders is one image
    label = pairs[0][1]
    truth = per_class["shared_label"]
    assert np.all(label[truth == per_class["cat"]] == 1)
    assert np.all(label[truth == per_class["dog"]] == 255)  # claimed by dog/ and cat/
    assert np.all(label[(truth != per_class["cat"]) & (truth != per_class["dog"])] == 255)
    code, out, err = _segment(
        per_class["folder"],
        per_class["folder"] / "out",
        capsys,
        "--classes",
        "background",
        "--cache-dir",
        str(per_class["folder"] / "cache"),
    )
    assert code == 0, err
    assert "3 classes, 2 support image(s) (3 masks)" in out
    assert np.array(Image.open(per_class["folder"] / "out" / "labels" / "x.png")).max() <= 2


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("error: ")
    return err


@pytest.mark.parametrize(
    "breakage,expected",
    [
        ("mask_without_image", "mask {support}/cat/c_mask.png has no image"),
        ("image_without_mask", "support image {support}/cat/b.png has no mask"),
        ("empty_class", "class folder {support}/bird holds no support images"),
        ("unreadable_image", "{support}/cat/b.png"),
        ("empty_mask", "mask {support}/cat/b_mask.png marks no pixel of class 'cat'"),
    ],
)
def test_each_bad_support_fails_in_one_line_naming_the_file_or_class(per_class, capsys, breakage, expected):
    support = per_class["folder"] / "support"
    if breakage == "mask_without_image":
        _write(support / "cat" / "c_mask.png", np.zeros((8, 8), np.uint8))
    elif breakage == "image_without_mask":
        (support / "cat" / "b_mask.png").unlink()
    elif breakage == "empty_class":
        (support / "bird").mkdir()
    elif breakage == "unreadable_image":
        (support / "cat" / "b.png").write_bytes(b"not a png")
    elif breakage == "empty_mask":
        _write(support / "cat" / "b_mask.png", np.zeros((8, 8), np.uint8))
    err = _error(
        capsys,
        [
            "--support",
            str(support),
            "--images",
            str(per_class["folder"] / "images"),
            "--out",
            str(per_class["folder"] / "out"),
        ],
    )
    assert expected.format(support=support) in err
    assert not (per_class["folder"] / "out").exists()  # nothing written, no model loaded


def test_indexed_support_errors_name_the_mask_the_class_count_and_the_missing_names(example, tmp_path, capsys):
    support = tmp_path / "support"
    (support / "images").mkdir(parents=True)
    (support / "masks").mkdir()
    image = decode_image(next((example / "support" / "images").glob("*.png")))
    _write(support / "images" / "one.png", image)
    _write(support / "masks" / "one.png", np.full(image.shape[:2], 3, np.uint8))
    argv = ["--support", str(support), "--images", str(example / "images"), "--out", str(tmp_path / "out")]
    assert "name the classes in index order" in _error(capsys, argv)
    err = _error(capsys, [*argv, "--classes", "background,dog"])
    assert f"mask {support / 'masks' / 'one.png'} holds class 3, but only 2 class names" in err
    (support / "images" / "one.png").unlink()
    assert f"mask {support / 'masks' / 'one.png'} has no image" in _error(capsys, [*argv, "--classes", "a,b,c,d"])
    assert "no images to segment" in _error(
        capsys,
        ["--support", str(example / "support"), "--images", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")],
    )
    assert "support folder not found" in _error(
        capsys, ["--support", str(tmp_path / "none"), "--images", str(example / "images"), "--out", str(tmp_path / "o")]
    )


def test_a_closed_vocabulary_method_is_refused_in_one_line(example, tmp_path, capsys):
    err = _error(
        capsys,
        [
            "--support",
            str(example / "support"),
            "--images",
            str(example / "images"),
            "--out",
            str(tmp_path / "out"),
            "--method",
            "linear_patches",
        ],
    )
    assert "method 'linear_patches' is closed-vocabulary" in err


def test_a_misspelt_option_fails_before_the_support_is_read(example, tmp_path, capsys):
    # the support folder does not exist: the option's error comes first, so nothing was read
    err = _error(
        capsys,
        [
            "--support",
            str(tmp_path / "absent"),
            "--images",
            str(example / "images"),
            "--out",
            str(tmp_path / "out"),
            "--method",
            "rns",
            "--option",
            "stepz=5",
        ],
    )
    assert "unknown rns option(s) ['stepz']" in err and "steps" in err
    err = _error(
        capsys,
        [
            "--support",
            str(tmp_path / "absent"),
            "--images",
            str(example / "images"),
            "--out",
            str(tmp_path / "out"),
            "--method",
            "rns",
            "--option",
            "k=0",
        ],
    )
    assert "k ≥ 1" in err
