"""The support bank (rns spec §1): one row per (support image, class present in it).

Rows hold soft-pooled, unit-norm visual class features. Class prototypes are kept as
running sums so that adding a support image later touches only the classes it contains
("dynamic support"); nothing else is recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from rns_bench.core.errors import InputError
from rns_bench.ops.pooling import patch_fractions, pool_features, present_labels


def check_features(features: torch.Tensor, what: str) -> None:
    """Fail with a clear message on NaN/inf features (a broken extractor, a bad cache entry)."""
    if not torch.isfinite(features).all():
        raise InputError(f"{what} contain NaN or inf values; re-extract them (a corrupt cache entry?)")


# Rows allocated at the first append (a few images' worth), so small banks skip the early doublings.
MIN_CAPACITY = 64


@dataclass
class SupportBank:
    """Support rows for ``num_classes`` classes in a ``dim``-dimensional feature space.

    features: (R, D) unit-norm per-image class features; labels: (R,) class ids;
    image_ids: the support image of each row. ``class_sums`` (K, D) and
    ``class_counts`` (K,) hold the un-normalised prototype sums (spec §1).

    Rows live in preallocated storage that doubles when full, so building a bank image by
    image is linear in its rows (``torch.cat`` per image was quadratic: 45 s of copying at
    24k rows). ``features`` and ``labels`` are views of the filled part; assigning either
    adopts the tensor as the new storage.
    """

    num_classes: int
    dim: int
    image_ids: list[str] = field(init=False, default_factory=list)
    class_sums: torch.Tensor = field(init=False)
    class_counts: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self._feature_store = torch.empty(0, self.dim)
        self._label_store = torch.empty(0, dtype=torch.long)
        self._rows = 0
        self.class_sums = torch.zeros(self.num_classes, self.dim)
        self.class_counts = torch.zeros(self.num_classes, dtype=torch.long)

    # ------------------------------------------------------------------ storage
    @property
    def features(self) -> torch.Tensor:
        """(R, D) the filled rows: a view of the storage."""
        return self._feature_store[: self._rows]

    @features.setter
    def features(self, value: torch.Tensor) -> None:
        # The adopted tensor counts as full, so the next append reallocates instead of writing
        # into it (with_new_class shares one bank's rows with another). The labels lose their
        # spare capacity too, so no unwritten storage row can ever show through a view.
        self._label_store, self._feature_store, self._rows = self.labels, value, len(value)

    @property
    def labels(self) -> torch.Tensor:
        """(R,) long class id of each row: a view of the storage."""
        return self._label_store[: self._rows]

    @labels.setter
    def labels(self, value: torch.Tensor) -> None:
        self._feature_store, self._label_store, self._rows = self.features, value, len(value)

    @property
    def capacity(self) -> int:
        """Rows the storage holds before the next reallocation."""
        return min(len(self._feature_store), len(self._label_store))

    def reserve(self, num_rows: int) -> None:
        """Make room for ``num_rows`` rows in all (one copy of the filled rows at most)."""
        if num_rows <= self.capacity:
            return
        if len(self._feature_store) < self._rows or len(self._label_store) < self._rows:
            raise ValueError(
                f"support bank with {len(self._feature_store)} feature rows but {len(self._label_store)} labels"
            )
        # Normal tensors even under inference mode (Lightning predicts in it): rows appended
        # later, outside it, are written in place.
        with torch.inference_mode(False):
            features = torch.empty(
                num_rows,
                *self._feature_store.shape[1:],
                dtype=self._feature_store.dtype,
                device=self._feature_store.device,
            )
            labels = torch.empty(num_rows, dtype=self._label_store.dtype, device=self._label_store.device)
            features[: self._rows] = self.features
            labels[: self._rows] = self.labels
        self._feature_store, self._label_store = features, labels

    # ----------------------------------------------------------------- building
    def add_image(self, image_id: str, features: torch.Tensor, label_map: torch.Tensor, patch_size: int) -> int:
        """Pool one support image into rows and update the affected prototypes.

        features: (h, w, D) unit-norm patch features; label_map: (H, W) class ids at the
        resolution the features were extracted at (255 = ignore; reduce-zero-label already
        applied). Returns the number of rows added.
        """
        if features.ndim != 3 or features.shape[-1] != self.dim:
            raise InputError(
                f"support image {image_id!r}: features of shape {tuple(features.shape)}, expected (h, w, {self.dim})"
            )
        check_features(features, f"support features of image {image_id!r}")
        classes = present_labels(label_map)
        if len(classes) and int(classes.max()) >= self.num_classes:
            raise InputError(
                f"support image {image_id!r}: label {int(classes.max())} ≥ number of classes "
                f"{self.num_classes}; is reduce_zero_label set correctly for this dataset?"
            )
        if len(classes) == 0:
            return 0
        weights = patch_fractions(label_map, classes, patch_size, tuple(features.shape[:2]))
        rows = pool_features(features.float(), weights)
        self.add_rows(rows, classes, [image_id] * len(classes))
        return len(classes)

    def add_rows(self, rows: torch.Tensor, labels: torch.Tensor, image_ids: list[str]) -> None:
        """Append precomputed unit-norm rows (R, D) with their labels (R,)."""
        if rows.ndim != 2 or rows.shape[1] != self.dim or labels.shape != rows.shape[:1]:
            raise InputError(
                f"support rows of shape {tuple(rows.shape)} with labels of shape "
                f"{tuple(labels.shape)}; expected (R, {self.dim}) and (R,)"
            )
        check_features(rows, "support rows")
        labels = labels.long().cpu()
        count = len(rows)
        if count:  # even an empty write is in place, into a maybe shared (or inference) adopted tensor
            end = self._rows + count
            if end > self.capacity:
                self.reserve(max(end, 2 * self.capacity, MIN_CAPACITY))
            self._feature_store[self._rows : end] = rows.to(self._feature_store)
            self._label_store[self._rows : end] = labels.to(self._label_store)
            self._rows = end
        self.image_ids.extend(image_ids)
        self.class_sums.index_add_(0, labels, rows.to(self.class_sums))
        self.class_counts += torch.bincount(labels, minlength=self.num_classes)

    # ------------------------------------------------------- vocabulary changes
    def with_new_class(self) -> SupportBank:
        """This bank with one more class (index K, no rows yet): the rows are shared, not copied."""
        bank = SupportBank(self.num_classes + 1, self.dim)
        bank.features, bank.labels, bank.image_ids = self.features, self.labels, list(self.image_ids)
        bank.class_sums = torch.cat([self.class_sums, torch.zeros(1, self.dim)])
        bank.class_counts = torch.cat([self.class_counts, torch.zeros(1, dtype=torch.long)])
        return bank

    def without_class(self, index: int) -> SupportBank:
        """This bank without class ``index``: its rows dropped, the classes after it renumbered down."""
        keep = self.labels != index
        bank = SupportBank(self.num_classes - 1, self.dim)
        bank.features, bank.image_ids = (
            self.features[keep],
            [i for i, k in zip(self.image_ids, keep.tolist(), strict=True) if k],
        )
        bank.labels = self.labels[keep] - (self.labels[keep] > index).long()
        others = [c for c in range(self.num_classes) if c != index]
        bank.class_sums, bank.class_counts = self.class_sums[others].clone(), self.class_counts[others].clone()
        return bank

    def without_image(self, image_id: str) -> SupportBank:
        """This bank without the rows of support image ``image_id``; only its classes' prototypes are
        re-summed (from their remaining rows, so they equal a bank built without the image)."""
        keep = torch.tensor([i != image_id for i in self.image_ids], dtype=torch.bool)
        if bool(keep.all()):
            raise InputError(
                f"no support image {image_id!r} in the bank; its images: "
                f"{', '.join(sorted(set(self.image_ids))[:8]) or '(none)'}"
            )
        touched = self.labels[~keep].unique()
        bank = SupportBank(self.num_classes, self.dim)
        bank.features, bank.labels = self.features[keep], self.labels[keep]
        bank.image_ids = [i for i in self.image_ids if i != image_id]
        bank.class_sums, bank.class_counts = self.class_sums.clone(), self.class_counts.clone()
        for c in touched.tolist():
            rows = bank.labels == c
            bank.class_sums[c] = bank.features[rows].sum(0) if bool(rows.any()) else 0.0
            bank.class_counts[c] = int(rows.sum())
        return bank

    def without_classes(self, classes: Iterable[int]) -> SupportBank:
        """A copy without the rows of ``classes`` (partial visual support, spec §5)."""
        drop = torch.zeros(self.num_classes, dtype=torch.bool)
        drop[list(classes)] = True
        keep = ~drop[self.labels]
        bank = SupportBank(self.num_classes, self.dim)
        bank.add_rows(
            self.features[keep], self.labels[keep], [i for i, k in zip(self.image_ids, keep.tolist(), strict=True) if k]
        )
        return bank

    # ----------------------------------------------------------------- queries
    @property
    def supported(self) -> torch.Tensor:
        """(K,) bool: classes with at least one bank row (visual support)."""
        return self.class_counts > 0

    @property
    def prototypes(self) -> torch.Tensor:
        """(K, D) p_c = normalize(Σ_i v_{i,c}); zero rows for classes without support."""
        return F.normalize(self.class_sums, dim=-1)

    def __len__(self) -> int:
        return len(self.labels)

    def require_rows(self) -> None:
        if len(self) == 0:
            raise InputError(
                "the support bank is empty: no support image contributed a labelled pixel. "
                "Check the support split and the label files (all pixels 255?)"
            )
