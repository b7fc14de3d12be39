"""The demo's state without the web (rns_bench.segment.demo_session) on the toy world: classes and support
change through the segmenter at the cost of what they add, labels follow a removed class, the export is the
segment command's folder, and the suite imports without Gradio."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from rns_bench.core.errors import InputError
from rns_bench.segment.demo_session import DemoSession, class_areas, export_support, toy_example, zip_folder
from rns_bench.segment.folders import find_support, support_pairs
from rns_bench.toy.world import ToyWorld

NAMES = ["background", "dog", "cat"]


@pytest.fixture(scope="module")
def scenes():
    """Two toy scenes with a dog (pixels, truth) and the toy index of "dog"."""
    world, rng = ToyWorld(0), np.random.default_rng(0)
    dog = world.class_index("dog")
    return [world.render(rng, "train", required_class=dog) for _ in range(2)], dog


def _session(**kwargs) -> DemoSession:
    return DemoSession.start("toy_vlm", "rns", NAMES, **kwargs)


def test_class_areas_count_the_present_classes_largest_first():
    label = np.array([[0, 0], [2, 0]], np.uint8)
    areas = class_areas(label, ["a", "b", "c"])
    assert [(a.index, a.name, a.pixels, a.fraction) for a in areas] == [(0, "a", 3, 0.75), (2, "c", 1, 0.25)]
    assert areas[1].colour == "#008000"  # VOC palette: class 2 is (0, 128, 0)
    with pytest.raises(InputError, match="holds class 2 but there are 2 class names"):
        class_areas(label, ["a", "b"])


def test_a_painted_class_costs_its_name_only_and_shows_in_the_next_segmentation(scenes):
    ((image, truth), (other, other_truth)), dog = scenes
    session = _session(support=[("other", other, np.where(other_truth == 0, 0, 255))])
    assert session.segmenter.text_encodings == 3
    before = session.segment(image, "scene")
    note = session.add_class("my dog", (image, truth == dog))
    assert "class 3" in note and "1 new name(s)" in note and session.segmenter.text_encodings == 4
    assert session.support_counts() == [1, 0, 0, 1]
    after = session.resegment()
    assert 3 not in before.label and (after.label == 3).sum() > 0  # painted on this very picture
    assert any(area.name == "my dog" for area in after.areas)
    session.remove_class("my dog")
    assert session.segmenter.text_encodings == 4 and session.support_names == ["other"]  # "painted_1": no class left


def test_segmenting_without_support_says_what_to_do(scenes):
    ((image, _), _), _ = scenes
    with pytest.raises(InputError, match="no support image yet: paint a class"):
        _session().segment(image)
    assert DemoSession.start("toy_vlm", "zero_shot", NAMES).segment(image).label.shape == image.shape[:2]


def test_a_refused_paint_leaves_the_vocabulary_as_it_was(scenes):
    ((image, _), _), _ = scenes
    session = _session()
    with pytest.raises(InputError, match="the mask is empty"):
        session.add_class("my dog", (image, np.zeros(image.shape[:2], bool)))
    with pytest.raises(InputError, match=r"the mask is 3x3 but its image"):
        session.add_class("my dog", (image, np.ones((3, 3), bool)))
    with pytest.raises(InputError, match="already in the vocabulary"):
        session.add_class("dog")
    assert session.class_names == NAMES and session.entries == {}


def test_painting_a_second_class_on_a_support_picture_joins_its_label(scenes):
    ((image, _), _), _ = scenes
    session = _session()
    left, right = np.zeros(image.shape[:2], bool), np.zeros(image.shape[:2], bool)
    left[:, :20], right[:, -20:] = True, True
    session.add_support("dog", image, left)
    session.add_support("cat", image, right)
    ((key, entry),) = session.entries.items()
    assert entry.name == "painted_1" and session.segmenter.support_images == [key]
    assert np.array_equal(entry.label, np.select([left, right], [1, 2], 255))
    session.add_support("cat", image, left)  # the newer paint wins
    assert (session.entries[key].label[:, :20] == 2).all() and session.support_counts() == [0, 0, 1]


def test_removing_a_class_renumbers_support_labels_as_the_bank_does(scenes):
    ((image, _), (other, _)), _ = scenes
    label, only_dog = np.full(image.shape[:2], 255, np.uint8), np.full(other.shape[:2], 255, np.uint8)
    label[0, :3], only_dog[0, 0] = [0, 1, 2], 1
    session = _session(support=[("a", image, label), ("b", other, only_dog)])
    session.remove_class("dog")
    assert session.class_names == ["background", "cat"] and session.support_names == ["a"]  # "b" marked dog only
    (entry,) = session.entries.values()
    assert entry.label[0, :3].tolist() == [0, 255, 1] and (entry.label[1:] == 255).all()
    assert session.support_counts() == [1, 1]
    session.remove_support("a")
    assert session.entries == {} and session.segmenter.support_images == []
    with pytest.raises(InputError, match="no support image 'a'"):
        session.remove_support("a")


def test_switching_method_keeps_classes_and_support(scenes):
    ((image, truth), _), dog = scenes
    session = _session()
    session.add_class("my dog", (image, truth == dog))
    session.segment(image, "scene")
    other = session.switched("toy_vlm", "knn_clip")
    assert other.method == "knn_clip" and other.class_names == session.class_names
    assert other.support_names == session.support_names and other.last_image[0] == "scene"
    with pytest.raises(InputError, match="closed-vocabulary"):
        session.switched("toy_vlm", "linear_patches")
    with pytest.raises(InputError, match="no backbone config"):
        session.switched("no_such_backbone", "rns")


def test_the_export_is_the_segment_commands_folder_and_reads_back_the_same(scenes, tmp_path):
    ((image, truth), (other, other_truth)), dog = scenes
    session = _session()
    session.add_class("my dog", (image, truth == dog))
    session.add_support("background", other, other_truth == 0)
    folder = session.export(tmp_path / "support")
    support = find_support(folder, [])
    assert support.class_names == ["background", "dog", "cat", "my dog"]  # "dog", "cat": text only, kept
    pairs = support_pairs(support)
    entries = list(session.entries.values())
    assert len(pairs) == 2
    for (read_image, read_label), entry in zip(pairs, entries, strict=True):
        assert np.array_equal(read_image, entry.image) and np.array_equal(read_label, entry.label)
    with zipfile.ZipFile(zip_folder(folder)) as packed:  # the download: the same files, by their paths
        assert sorted(packed.namelist()) == sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.*"))
        assert packed.read("classes.txt") == (folder / "classes.txt").read_bytes()
    with pytest.raises(InputError, match="not an empty folder"):
        session.export(folder)
    with pytest.raises(InputError, match="no support images to export"):
        export_support(tmp_path / "empty", ["a"], [])


def test_the_toy_example_preloads_every_class_and_its_support(tmp_path):
    names, support, images = toy_example(tmp_path)
    assert names[-1] == "my dog" and len(names) == 17
    assert len(support) == 32 and support[0][0] == "generic_0"
    assert [p.name for p in images] == ["scene_0.jpg", "scene_1.jpg", "scene_2.jpg", "scene_3.jpg"]


@pytest.mark.early
def test_the_suite_imports_without_gradio():
    code = (
        "import sys; import rns_bench.demo, rns_bench.demo.views, rns_bench.segment.demo_session, "
        "rns_bench.cli.segment; print('gradio' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
