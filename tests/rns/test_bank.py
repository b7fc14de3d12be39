import math

import pytest
import torch
import torch.nn.functional as F

from rns_bench.core.errors import InputError
from rns_bench.ops.pooling import patch_fractions, pool_features, present_labels
from rns_bench.support.bank import MIN_CAPACITY, SupportBank


def two_patch_image():
    """1x2 patch grid (patch 2): class 0 fills patch 0 and one pixel of patch 1, class 1 the rest."""
    features = F.normalize(torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]), dim=-1)
    labels = torch.tensor([[0, 0, 0, 1], [0, 0, 1, 255]])
    return features, labels


def test_rows_are_soft_pooled_per_present_class():
    features, labels = two_patch_image()
    bank = SupportBank(num_classes=3, dim=3)
    assert bank.add_image("a", features, labels, patch_size=2) == 2
    # class 0: 4 pixels in patch 0, 1 in patch 1 → normalize(0.8·e0 + 0.2·e1)
    assert torch.allclose(bank.features[0], F.normalize(torch.tensor([0.8, 0.2, 0.0]), dim=0))
    assert torch.allclose(bank.features[1], torch.tensor([0.0, 1.0, 0.0]))
    assert bank.labels.tolist() == [0, 1] and bank.image_ids == ["a", "a"]
    assert bank.supported.tolist() == [True, True, False]
    assert torch.equal(bank.prototypes[2], torch.zeros(3))  # no row, no prototype


def test_prototype_is_normalised_sum_and_adding_an_image_touches_only_its_classes():
    features, labels = two_patch_image()
    bank = SupportBank(num_classes=3, dim=3)
    bank.add_image("a", features, labels, 2)
    before = bank.prototypes.clone()
    other = F.normalize(torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]]), dim=-1)
    bank.add_image("b", other, torch.zeros(2, 4, dtype=torch.long), 2)  # class 0 only
    assert len(bank) == 3
    expected = F.normalize(bank.features[0] + bank.features[2], dim=0)
    assert torch.allclose(bank.prototypes[0], expected)
    assert torch.equal(bank.prototypes[1], before[1])


def test_without_classes_drops_their_rows_and_support():
    features, labels = two_patch_image()
    bank = SupportBank(3, 3)
    bank.add_image("a", features, labels, 2)
    dropped = bank.without_classes([1])
    assert dropped.labels.tolist() == [0] and dropped.supported.tolist() == [True, False, False]
    assert len(bank) == 2  # the original is untouched


def test_bad_support_input_is_a_clear_error():
    features, labels = two_patch_image()
    bank = SupportBank(3, 3)
    with pytest.raises(InputError, match="NaN"):
        bank.add_image("nan", torch.full_like(features, float("nan")), labels, 2)
    with pytest.raises(InputError, match=r"expected \(h, w, 3\)"):
        bank.add_image("dim", torch.zeros(1, 2, 5), labels, 2)
    with pytest.raises(InputError, match="reduce_zero_label"):
        bank.add_image("big", features, torch.full((2, 4), 7), 2)
    with pytest.raises(InputError, match="empty"):
        bank.require_rows()


# ------------------------------------------------- storage: linear growth, same rows as before
class CatBank:
    """The bank's former construction (one ``torch.cat`` per image), kept as the reference."""

    def __init__(self, num_classes: int, dim: int):
        self.num_classes = num_classes
        self.features, self.labels, self.image_ids = torch.empty(0, dim), torch.empty(0, dtype=torch.long), []
        self.class_sums = torch.zeros(num_classes, dim)
        self.class_counts = torch.zeros(num_classes, dtype=torch.long)

    def add_rows(self, rows, labels, image_ids):
        self.features = torch.cat([self.features, rows.to(self.features)])
        self.labels = torch.cat([self.labels, labels.long().cpu()])
        self.image_ids.extend(image_ids)
        self.class_sums.index_add_(0, labels.long().cpu(), rows.to(self.class_sums))
        self.class_counts += torch.bincount(labels.long().cpu(), minlength=self.num_classes)


def random_images(count, num_classes=7, dim=16, patch=4, seed=0):
    """(id, (h, w, dim) unit-norm features, label map) with a few classes each, ignore pixels, odd sizes."""
    g = torch.Generator().manual_seed(seed)
    for n in range(count):
        h, w = 2 + n % 3, 3 + n % 2
        features = F.normalize(torch.randn(h, w, dim, generator=g), dim=-1)
        classes = torch.randperm(num_classes, generator=g)[: 1 + n % 4]
        label = classes[torch.randint(len(classes), (h * patch - n % 2, w * patch), generator=g)]
        label[torch.rand(label.shape, generator=g) < 0.1] = 255
        if n % 17 == 16:
            label[:] = 255  # an image without a labelled pixel adds no row
        yield f"img{n}", features, label


def cat_reference(images, num_classes=7, dim=16, patch=4):
    reference = CatBank(num_classes, dim)
    for image_id, features, label in images:
        classes = present_labels(label)
        if len(classes):
            weights = patch_fractions(label, classes, patch, tuple(features.shape[:2]))
            reference.add_rows(pool_features(features, weights), classes, [image_id] * len(classes))
    return reference


def assert_same_bank(bank, reference):
    assert torch.equal(bank.features, reference.features) and bank.features.dtype == reference.features.dtype
    assert torch.equal(bank.labels, reference.labels) and bank.labels.dtype == torch.long
    assert bank.image_ids == reference.image_ids and len(bank) == len(reference.labels)
    assert torch.equal(bank.class_sums, reference.class_sums)
    assert torch.equal(bank.class_counts, reference.class_counts)


def test_built_image_by_image_equals_the_cat_construction_bit_for_bit():
    images = list(random_images(80))
    reference = cat_reference(images)
    bank = SupportBank(7, 16)
    for n, (image_id, features, label) in enumerate(images):
        bank.add_image(image_id, features, label, 4)
        if n % 20 == 0:
            assert_same_bank(bank, cat_reference(images[: n + 1]))
    assert len(bank) > 2 * MIN_CAPACITY  # grown more than once
    assert_same_bank(bank, reference)
    assert torch.equal(bank.prototypes, F.normalize(reference.class_sums, dim=-1))


def test_views_stay_consistent_after_growth():
    bank = SupportBank(7, 16)
    images = list(random_images(60))
    for image in images[:10]:
        bank.add_image(*image, 4)
    early_features, early_labels, early_rows = bank.features, bank.labels, len(bank)
    early = early_features.clone()
    for image in images[10:]:
        bank.add_image(*image, 4)
        assert bank.features.shape == (len(bank), 16) and bank.labels.shape == (len(bank),)
        assert len(bank.image_ids) == len(bank) <= bank.capacity
    # a view taken before the storage moved keeps its rows, and the bank's first rows are those rows
    assert torch.equal(early_features, early) and len(early_labels) == early_rows
    assert torch.equal(bank.features[:early_rows], early) and torch.equal(bank.labels[:early_rows], early_labels)


def test_assigning_features_and_labels_adopts_them_and_later_rows_never_write_into_them():
    bank = SupportBank(3, 2)
    rows, labels = F.normalize(torch.randn(5, 2), dim=-1), torch.tensor([0, 1, 2, 0, 1])
    bank.features, bank.labels, bank.image_ids = rows, labels, list("abcde")
    assert torch.equal(bank.features, rows) and torch.equal(bank.labels, labels)
    kept_rows, kept_labels = rows.clone(), labels.clone()
    bank.add_rows(F.normalize(torch.ones(2, 2), dim=-1), torch.tensor([2, 2]), ["f", "f"])
    assert len(bank) == 7 and torch.equal(bank.features[:5], kept_rows) and bank.labels[5:].tolist() == [2, 2]
    assert torch.equal(rows, kept_rows) and torch.equal(labels, kept_labels)
    # a shorter assignment never shows storage rows that were not written
    bank.labels = labels[:3]
    assert len(bank.features) == 3 and len(bank.labels) == 3
    bank.add_rows(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), [])  # nothing, and no write
    with pytest.raises(InputError, match=r"expected \(R, 2\)"):
        bank.add_rows(torch.ones(2, 1), torch.tensor([0, 1]), ["x", "x"])
    with pytest.raises(InputError, match=r"expected \(R, 2\)"):
        bank.add_rows(torch.ones(2, 2), torch.tensor([0]), ["x", "x"])


def test_with_new_class_shares_rows_and_both_banks_then_grow_apart():
    images = list(random_images(30))
    bank = SupportBank(7, 16)
    for image in images[:20]:
        bank.add_image(*image, 4)
    assert bank.capacity > len(bank)  # spare storage the new bank must not write into
    wider = bank.with_new_class()
    assert wider.features.data_ptr() == bank.features.data_ptr()  # shared, not copied
    new_class = torch.full((8, 12), 7)
    wider.add_image("new", F.normalize(torch.randn(2, 3, 16), dim=-1), new_class, 4)
    for image in images[20:]:
        bank.add_image(*image, 4)
    assert_same_bank(bank, cat_reference(images))
    reference = cat_reference(images[:20])
    assert torch.equal(wider.features[:-1], reference.features) and wider.labels[-1] == 7
    assert wider.image_ids == reference.image_ids + ["new"] and wider.class_counts.tolist()[7] == 1


def grown_and_exact(images):
    """The same rows twice: a bank grown image by image (spare capacity) and one holding exact-size tensors."""
    grown = SupportBank(7, 16)
    for image in images:
        grown.add_image(*image, 4)
    reference = cat_reference(images)
    exact = SupportBank(7, 16)
    exact.features, exact.labels, exact.image_ids = reference.features, reference.labels, list(reference.image_ids)
    exact.class_sums, exact.class_counts = reference.class_sums.clone(), reference.class_counts.clone()
    assert grown.capacity > len(grown) and exact.capacity == len(exact)
    return grown, exact


def test_vocabulary_changes_give_the_same_banks_as_before():
    images = list(random_images(40))
    grown, exact = grown_and_exact(images)
    for change in (
        lambda b: b.without_class(2),
        lambda b: b.without_image("img5"),
        lambda b: b.without_classes([0, 3]),
        lambda b: b.with_new_class(),
    ):
        assert_same_bank(change(grown), change(exact))
    # and what they mean: the bank built without that image / those classes
    without = grown.without_image("img5")
    rebuilt = cat_reference([i for i in images if i[0] != "img5"])
    assert torch.equal(without.features, rebuilt.features) and without.image_ids == rebuilt.image_ids
    assert torch.allclose(without.class_sums, rebuilt.class_sums, atol=1e-6)
    assert torch.equal(without.class_counts, rebuilt.class_counts)
    dropped = grown.without_classes([0, 3])
    assert set(dropped.labels.tolist()).isdisjoint({0, 3}) and dropped.class_counts[[0, 3]].tolist() == [0, 0]
    narrower = grown.without_class(2)
    assert torch.equal(narrower.features, grown.features[grown.labels != 2])
    assert narrower.labels.max() < 6 and narrower.class_sums.shape == (6, 16)


def test_rows_added_under_inference_mode_and_after_it():
    bank = SupportBank(7, 16)
    images = list(random_images(40))
    with torch.inference_mode():  # Lightning predicts in inference mode; storage grown there stays writable
        for image in images[:20]:
            bank.add_image(*image, 4)
    for image in images[20:]:
        bank.add_image(*image, 4)
    assert torch.equal(bank.features, cat_reference(images).features)


def test_building_4000_images_copies_the_storage_a_logarithmic_number_of_times():
    """The complexity, counted rather than timed: each reallocation shows as a new storage address
    (the old storage is alive while the new one is filled, so consecutive addresses differ)."""
    bank = SupportBank(7, 16)
    reallocations = copied_rows = 0
    address = bank.features.data_ptr()
    for image in random_images(4000):
        before = len(bank)
        bank.add_image(*image, 4)
        if bank.features.data_ptr() != address:
            reallocations, copied_rows, address = reallocations + 1, copied_rows + before, bank.features.data_ptr()
    rows = len(bank)
    assert rows > 8000
    # doubling from MIN_CAPACITY: about log2(rows / 64) reallocations (the cat construction: one per image)
    assert reallocations <= math.ceil(math.log2(rows / MIN_CAPACITY)) + 1
    assert copied_rows < 2 * rows  # amortised O(1) copies per row
    assert rows <= bank.capacity < 2 * rows + MIN_CAPACITY
