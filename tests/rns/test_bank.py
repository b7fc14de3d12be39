import pytest
import torch
import torch.nn.functional as F

from rns_bench.core.errors import InputError
from rns_bench.support.bank import SupportBank


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
