"""The run-time vocabulary and support API (SegMethod + OpenWorldSegmenter) on the toy world."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rns_bench.core.errors import InputError
from rns_bench.data.datasets import get_dataset
from rns_bench.methods import build_method
from rns_bench.segment.segmenter import OpenWorldSegmenter
from rns_bench.support.bank import SupportBank

OPEN = ["rns", "knn_clip", "freeda", "zero_shot"]


@pytest.fixture(scope="module")
def toy(toy_data_root):
    reader = get_dataset("toy").make_reader(toy_data_root)
    train, val = reader.image_ids("train"), reader.image_ids("val")
    return {"reader": reader, "train": train[:6], "val": val[:2], "names": get_dataset("toy").class_names()}


def _segmenter(toy, method, names=None, **kwargs):
    options = {"steps": 30} if method == "rns" else {}
    return OpenWorldSegmenter.create("toy_vlm", method, names or toy["names"][:6], options, **kwargs)


def _support(segmenter, toy, ids):
    for image_id in ids:
        label = toy["reader"].read_label(image_id)
        label = np.where(label < segmenter.method.num_classes, label, 255).astype(np.uint8)
        segmenter.add_support(toy["reader"].read_image(image_id), label)


@pytest.mark.parametrize("method", OPEN)
def test_adding_a_class_costs_its_name_and_its_images_only_and_removing_it_undoes_it(method, toy):
    segmenter = _segmenter(toy, method)
    assert segmenter.text_encodings == 6
    _support(segmenter, toy, toy["train"][:3])
    assert segmenter.images_extracted == {"support": 3, "test": 0}
    test_image = toy["reader"].read_image(toy["val"][0])
    before = segmenter.segment(test_image)
    # "bird" (toy class 9, not among the first six); its support masks: its pixels in two train images.
    name, index = toy["names"][9], 9
    images, masks = [], []
    for image_id in toy["reader"].image_ids("train"):
        label = toy["reader"].read_label(image_id)
        if (label == index).sum() > 400:
            images.append(toy["reader"].read_image(image_id))
            masks.append(label == index)
        if len(images) == 2:
            break
    new = segmenter.add_class(name, images, masks)
    assert new == 6 and segmenter.class_names[-1] == name
    assert segmenter.text_encodings == 7  # the new name only
    assert segmenter.images_extracted == {"support": 5, "test": 1}  # the two new images only
    assert int(segmenter.method.bank.class_counts[6]) == 2
    on_dog = segmenter.segment(images[0])
    assert (on_dog == 6).sum() > 0  # the next prediction can output the new class
    segmenter.remove_class(name)
    assert segmenter.class_names == toy["names"][:6] and segmenter.method.bank.num_classes == 6
    assert (segmenter.segment(images[0]) < 6).all()
    after = segmenter.segment(test_image)
    if method != "rns":  # deterministic functions of the same bank and text: the same map
        np.testing.assert_array_equal(after, before)
    assert segmenter.images_extracted["test"] == 2  # the test image's features were reused from memory


def test_features_come_back_from_the_cache_in_a_new_process_state(toy, tmp_path):
    first = _segmenter(toy, "knn_clip", cache_dir=tmp_path)
    _support(first, toy, toy["train"][:2])
    second = _segmenter(toy, "knn_clip", cache_dir=tmp_path)
    _support(second, toy, toy["train"][:2])
    assert first.images_extracted["support"] == 2 and second.images_extracted["support"] == 0
    image = toy["reader"].read_image(toy["val"][1])
    np.testing.assert_array_equal(first.segment(image), second.segment(image))


def test_removing_a_support_image_equals_never_adding_it(toy):
    with_it, without = _segmenter(toy, "freeda"), _segmenter(toy, "freeda")
    _support(with_it, toy, toy["train"][:3])
    _support(without, toy, [toy["train"][0], toy["train"][2]])
    removed = with_it.support_images[1]
    with_it.remove_support(removed)
    assert with_it.support_images == without.support_images
    torch.testing.assert_close(with_it.method.bank.prototypes, without.method.bank.prototypes)
    image = toy["reader"].read_image(toy["val"][0])
    np.testing.assert_array_equal(with_it.segment(image), without.segment(image))
    with pytest.raises(InputError, match="no support image"):
        with_it.remove_support(removed)


def test_rename_recomputes_the_text_of_the_new_name_only(toy):
    segmenter = _segmenter(toy, "zero_shot")
    segmenter.rename_class(toy["names"][5], "bus")  # car → bus
    assert segmenter.text_encodings == 7 and segmenter.class_names[5] == "bus"
    expected = segmenter.backbone.encode_text(["bus"])[0]
    torch.testing.assert_close(segmenter.method.text[5], expected)


def test_bank_vocabulary_operations_by_hand():
    bank = SupportBank(3, 2)
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6]])
    bank.add_rows(rows, torch.tensor([0, 2, 2, 1]), ["a", "a", "b", "b"])
    grown = bank.with_new_class()
    assert grown.num_classes == 4 and grown.class_counts.tolist() == [1, 1, 2, 0]
    dropped = grown.without_class(1)  # rows of class 1 go, class 2 becomes 1, class 3 becomes 2
    assert dropped.labels.tolist() == [0, 1, 1] and dropped.image_ids == ["a", "a", "b"]
    assert dropped.class_counts.tolist() == [1, 2, 0]
    torch.testing.assert_close(dropped.class_sums[1], torch.tensor([0.6, 1.8]))
    no_b = bank.without_image("b")
    assert no_b.labels.tolist() == [0, 2] and no_b.class_counts.tolist() == [1, 0, 1]
    torch.testing.assert_close(no_b.class_sums, torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]))


def test_closed_vocabulary_baselines_say_they_cannot(toy):
    method = build_method("linear_patches", toy["names"][:4], 16, {})
    with pytest.raises(InputError, match=r"'linear_patches' cannot add a class at run time: it is closed-vocabulary"):
        method.add_class("dog", torch.zeros(64))
    with pytest.raises(InputError, match=r"closed-vocabulary.*use rns, knn_clip, freeda or zero_shot"):
        OpenWorldSegmenter.create("toy_vlm", "linear_patches", toy["names"][:4])


def test_bad_vocabulary_changes_fail_in_one_line(toy):
    segmenter = _segmenter(toy, "zero_shot")
    with pytest.raises(InputError, match=r"class 'car' is already in the vocabulary"):
        segmenter.add_class("car")
    with pytest.raises(InputError, match=r"no class 'unicorn' in the vocabulary"):
        segmenter.remove_class("unicorn")
    image = toy["reader"].read_image(toy["train"][0])
    with pytest.raises(InputError, match=r"holds class 9, but the vocabulary has 6 classes"):
        segmenter.add_support(image, np.full(image.shape[:2], 9, np.uint8))
    with pytest.raises(InputError, match=r"a mask marks no pixel"):
        segmenter.add_class("dog", [image], [np.zeros(image.shape[:2], bool)])


def test_a_class_named_twice_is_named_before_a_backbone_loads(monkeypatch):
    def no_backbone(*args, **kwargs):
        raise AssertionError("the backbone loaded before the names were checked")

    monkeypatch.setattr("rns_bench.segment.segmenter.build_backbone", no_backbone)
    with pytest.raises(InputError, match=r"class 'dog' is named twice in the class names \(names 2 and 3\)"):
        OpenWorldSegmenter.create("toy_vlm", "zero_shot", ["background", "dog", "dog"])
