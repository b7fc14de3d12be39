"""One interface for every method: a LightningModule evaluated through ``Trainer.test``.

A method is built from the support bank and the text features (and can grow its bank),
and predicts class probabilities for the queries of a batch of test images. The base class
owns everything shared: patch or region queries, probabilities → label map (spec §7), the
dataset-level metric (synced across processes), logging and the metrics of the run record.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from rns_bench.backbones.base import Backbone
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.core.options import options_from_dict
from rns_bench.core.timing import per_image, timed
from rns_bench.methods.adapted import AdaptedEncoders
from rns_bench.metrics import DatasetIoU, subset_miou
from rns_bench.ops.label_maps import patch_probs_to_label_map, region_probs_to_label_map, save_palette_png
from rns_bench.ops.pooling import region_queries
from rns_bench.support.bank import SupportBank, check_features
from rns_bench.support.pixels import SupportPixels

QUERY_MODES = ("patch", "region")


class SegMethod(L.LightningModule):
    """Base class of all methods.

    Subclasses implement :meth:`predict_probs`; they may override :meth:`on_support_changed`
    to precompute from the bank. Test batches are lists of dicts with keys ``image_id``,
    ``features`` (h, w, D), ``resized_hw``, ``label`` (H, W) original-resolution ground truth
    and, in region mode, ``regions`` (H_r, W_r) region ids at the resized resolution.
    """

    name: str = ""  # the registered name (``@METHODS.register("rns")`` sets it)
    # The typed options dataclass of the method (None: no options). Its fields are what a row's
    # ``options:`` may set; configs/method/<row>.yaml lists every one (so each can be overridden).
    # The base builds ``self.config`` from the row's options (a misspelt or mistyped one is an error).
    options_class: type | None = None
    # Methods that train on pixel-level support labels (the bank holds only pooled rows) set
    # this; the runner then also calls :meth:`attach_support_pixels`.
    needs_support_pixels: bool = False
    # Methods that adapt the backbone to the support images before any feature is extracted
    # (the finetune baselines) set this; the runner then calls :meth:`adapt_encoder` and
    # extracts the run's support and test features with the encoder it returns.
    needs_support_images: bool = False
    # Methods whose prediction reads no support image (zero-shot: text only) set this False: a sweep then
    # evaluates them once for every shots and seed of one text setting (rns_bench.runs.shared_evaluation).
    reads_support: bool = True
    # Methods that predict from the support and text as they are (no training on the class list)
    # can grow, shrink and rename their vocabulary at run time; closed-vocabulary ones (a trained
    # classifier head) set this False and refuse class changes.
    open_vocabulary: bool = True

    def __init__(
        self,
        class_names: Sequence[str],
        patch_size: int,
        query_mode: str = "patch",
        ignore_index: int = 255,
        **options: Any,
    ):
        super().__init__()
        if self.options_class is not None:
            self.config = options_from_dict(self.options_class, options, self.name)
        elif options:
            raise ConfigError(f"{self.name} takes no options (got {sorted(options)})")
        if query_mode not in QUERY_MODES:
            raise ConfigError(f"query_mode {query_mode!r} unknown; choose one of {QUERY_MODES}")
        self.class_names = list(class_names)
        self.patch_size = patch_size
        self.query_mode = query_mode
        self.metric = DatasetIoU(len(self.class_names), ignore_index=ignore_index)
        self.bank: SupportBank | None = None
        self.text: torch.Tensor | None = None
        self.text_available: torch.Tensor | None = None
        self.support_pixels: list[SupportPixels] | None = None
        self.results: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}  # of the last Trainer.test: "method" (+ method parts, e.g. RNS's)
        self.timed_images = 0
        # The first ``save_predictions`` test label maps go to ``prediction_dir`` as palette PNGs (reports'
        # qualitative panels); ``saved_predictions``: image id → file.
        self.prediction_dir: Path | None = None
        self.save_predictions = 0
        self.saved_predictions: dict[str, str] = {}
        # A long run's partial confusion matrix (rns_bench.runs.run_checkpoint): written every
        # ``checkpoint.every`` images; ``resume_from`` (matrix, images) starts the metric from a saved one.
        self.checkpoint: Any = None
        self.resume_from: tuple[torch.Tensor, int] | None = None
        self.images_counted = 0
        self._checkpointed = 0

    # ------------------------------------------------------------------ support
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """Every option of the method with its default value (plain JSON / YAML types)."""
        return plain_values(dataclasses.asdict(cls.options_class())) if cls.options_class is not None else {}

    def attach_support(
        self, bank: SupportBank, text: torch.Tensor | None, text_available: torch.Tensor | None = None
    ) -> None:
        """Give the method its support: bank rows and (K, D) text (None = no text)."""
        if bank.num_classes != self.num_classes:
            raise InputError(f"support bank has {bank.num_classes} classes, the method {self.num_classes}")
        if text is not None and text.shape[0] != self.num_classes:
            raise InputError(
                f"{text.shape[0]} text features for {self.num_classes} classes "
                f"({', '.join(self.class_names[:5])}, ...); give one per class"
            )
        self.bank, self.text, self.text_available = bank, text, text_available
        self.on_support_changed()

    def attach_support_pixels(self, items: Sequence[SupportPixels]) -> None:
        """Give a method with ``needs_support_pixels`` the support images' features and label maps."""
        if not self.needs_support_pixels:
            raise InputError(f"method {self.name!r} does not train on support pixels")
        self.support_pixels = list(items)
        self.on_support_changed()

    def adapt_encoder(
        self,
        backbone: Backbone,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        short_side: int | None,
        work_dir: Path | None = None,
        encoders: AdaptedEncoders | None = None,
    ) -> Backbone:
        """Train on the support ``images`` (H, W, 3) uint8 and ``labels`` (H, W) class ids (255 =
        ignore) and return the encoder this run's features must come from (methods with
        ``needs_support_images``). ``short_side``: the support resize (protocol §3);
        ``work_dir``: where the method may keep checkpoints (None = nowhere); ``encoders``: the run
        context's adapted encoders, to reuse an identical adaptation (None: adapt afresh)."""
        raise InputError(f"method {self.name!r} does not adapt the encoder to support images")

    def add_support_image(self, image_id: str, features: torch.Tensor, label_map: torch.Tensor) -> None:
        """Dynamic support: pool one more annotated image into the bank (spec §1)."""
        if self.bank is None:
            raise InputError("attach_support must be called before adding support images")
        self.bank.add_image(image_id, features, label_map, self.patch_size)
        if self.support_pixels is not None:
            self.support_pixels.append(SupportPixels(image_id, features, label_map))
        self.on_support_changed()

    def remove_support_image(self, image_id: str) -> None:
        """Dynamic support: drop every bank row (and pixel item) of support image ``image_id``."""
        if self.bank is None:
            raise InputError("attach_support must be called before removing support images")
        self.bank = self.bank.without_image(image_id)
        if self.support_pixels is not None:
            self.support_pixels = [item for item in self.support_pixels if item.image_id != image_id]
        self.on_support_changed()

    # -------------------------------------------------------------- vocabulary
    def add_class(self, name: str, text_feature: torch.Tensor | None = None) -> int:
        """A new class ``name`` (index K, no support rows yet: add support images after). ``text_feature``
        (D,): its text embedding, required when the method has text. Returns its index."""
        self._require_open_vocabulary("add a class")
        if name in self.class_names:
            raise InputError(f"class {name!r} is already in the vocabulary (index {self.class_names.index(name)})")
        if self.text is not None:
            if text_feature is None or tuple(text_feature.shape) != (self.text.shape[1],):
                raise InputError(
                    f"class {name!r}: give its ({self.text.shape[1]},) text feature "
                    f"(backbone.encode_text([{name!r}])[0])"
                )
            self.text = torch.cat([self.text, text_feature.to(self.text).unsqueeze(0)])
            if self.text_available is not None:
                self.text_available = torch.cat([self.text_available, torch.ones(1, dtype=torch.bool)])
        self.class_names.append(name)
        self.bank = self.bank.with_new_class() if self.bank is not None else None
        self._vocabulary_changed()
        return self.num_classes - 1

    def remove_class(self, name: str) -> None:
        """Drop class ``name``: its bank rows, text feature and output index (later classes move down)."""
        self._require_open_vocabulary("remove a class")
        index = self.class_index(name)
        if self.num_classes == 1:
            raise InputError(f"cannot remove {name!r}: it is the last class")
        keep = [c for c in range(self.num_classes) if c != index]
        if self.text is not None:
            self.text = self.text[keep]
        if self.text_available is not None:
            self.text_available = self.text_available[keep]
        del self.class_names[index]
        self.bank = self.bank.without_class(index) if self.bank is not None else None
        if self.support_pixels is not None:
            self.support_pixels = [
                SupportPixels(p.image_id, p.features, _without_label(p.label, index)) for p in self.support_pixels
            ]
        self._vocabulary_changed()

    def rename_class(self, name: str, new_name: str, text_feature: torch.Tensor | None = None) -> None:
        """Call class ``name`` ``new_name`` (its support stays); with text, ``text_feature`` is the new name's."""
        self._require_open_vocabulary("rename a class")
        index = self.class_index(name)
        if new_name in self.class_names:
            raise InputError(f"class {new_name!r} is already in the vocabulary")
        if self.text is not None:
            if text_feature is None or tuple(text_feature.shape) != (self.text.shape[1],):
                raise InputError(
                    f"renaming {name!r} to {new_name!r}: give the new name's ({self.text.shape[1]},) text feature"
                )
            self.text = self.text.clone()
            self.text[index] = text_feature.to(self.text)
        self.class_names[index] = new_name
        self.on_support_changed()

    def class_index(self, name: str) -> int:
        if name not in self.class_names:
            raise InputError(f"no class {name!r} in the vocabulary: {', '.join(self.class_names)}")
        return self.class_names.index(name)

    def _require_open_vocabulary(self, what: str) -> None:
        if not self.open_vocabulary:
            raise InputError(
                f"method {self.name!r} cannot {what} at run time: it is closed-vocabulary (a "
                f"classifier trained on its {self.num_classes} classes); run it again on the new "
                f"class list (RNS, kNN-CLIP, FREEDA and zero-shot can)"
            )

    def _vocabulary_changed(self) -> None:
        self.metric = DatasetIoU(self.num_classes, ignore_index=self.metric.ignore_index)
        self.on_support_changed()

    def on_support_changed(self) -> None:
        """Hook for methods that precompute from the bank (prototypes, indexes)."""

    @property
    def reads_text(self) -> bool:
        """Whether predictions read the class names' text features (a run dropping every name cannot)."""
        return False

    # --------------------------------------------------------------- prediction
    @abstractmethod
    def predict_probs(self, queries: list[torch.Tensor], image_ids: list[str]) -> list[torch.Tensor]:
        """Per image (N_i, D) queries → (N_i, K) class probabilities."""

    def queries_of(self, item: dict[str, Any]) -> torch.Tensor:
        """(N, D) queries of one test image: its patches, or its regions (spec §6)."""
        features = item["features"]
        if self.query_mode == "patch":
            return features.reshape(-1, features.shape[-1])
        if item.get("regions") is None:
            raise InputError(
                f"region mode needs region proposals for image {item['image_id']!r}; "
                "configure a proposer or use query_mode=patch"
            )
        # Any number of regions: the pooling never confuses a region id with the padding (§6).
        return region_queries(features, item["regions"], self.patch_size)

    def label_map_of(self, item: dict[str, Any], probs: torch.Tensor) -> torch.Tensor:
        """(N, K) probabilities of one image → (H, W) label map at the original resolution."""
        original_hw = tuple(item["label"].shape)
        if self.query_mode == "region":
            return region_probs_to_label_map(probs, item["regions"], original_hw)
        h, w = item["features"].shape[:2]
        grid = probs.T.reshape(self.num_classes, h, w)
        return patch_probs_to_label_map(grid, self.patch_size, tuple(item["resized_hw"]), original_hw)

    # ---------------------------------------------------------------- lightning
    def test_step(self, batch: list[dict[str, Any]], batch_idx: int) -> None:
        if self.bank is None:
            raise InputError(f"method {self.name!r} has no support; call attach_support first")
        # one guard for every method (zero-shot included), before any of them reads; one host sync a batch
        if not bool(torch.stack([torch.isfinite(item["features"]).all() for item in batch]).all()):
            for item in batch:
                check_features(item["features"], f"test features of image {item['image_id']!r}")
        queries = [self.queries_of(item) for item in batch]
        with timed(self.seconds, "method"):  # GPU-synchronised: the prediction's own cost
            probs = self.predict_probs(queries, [item["image_id"] for item in batch])
        self.timed_images += len(batch)
        for item, image_probs in zip(batch, probs, strict=True):
            label_map = self.label_map_of(item, image_probs)
            self.metric.update(label_map, item["label"])
            if self.prediction_dir is not None and len(self.saved_predictions) < self.save_predictions:
                path = self.prediction_dir / f"{item['image_id'].replace('/', '__')}.png"
                save_palette_png(path, label_map.cpu().numpy())
                self.saved_predictions[item["image_id"]] = str(path)
        self.images_counted += len(batch)
        if self.checkpoint is not None and self.images_counted - self._checkpointed >= self.checkpoint.every:
            self.checkpoint.save(self.metric.confmat, self.images_counted)  # at a batch boundary: resumable
            self._checkpointed = self.images_counted

    def on_test_epoch_start(self) -> None:
        self.seconds, self.timed_images = {}, 0
        self.images_counted = self._checkpointed = 0
        if self.resume_from is not None:  # the images before were counted by a run that was killed
            confmat, images = self.resume_from
            self.metric.confmat += confmat.to(self.metric.confmat.device)
            self.images_counted = self._checkpointed = images

    def seconds_per_image(self) -> dict[str, float | None]:
        """Seconds per test image of the last test, per part ("method"; RNS adds "training_set",
        "training", "prediction")."""
        return {name: per_image(seconds, self.timed_images) for name, seconds in sorted(self.seconds.items())}

    def on_test_epoch_end(self) -> None:
        computed = self.metric.compute()
        iou = computed["IoU"]
        results: dict[str, Any] = {
            "mIoU": float(computed["mIoU"]),
            "aAcc": float(computed["aAcc"]),
            "per_class_IoU": {n: _finite_or_none(v) for n, v in zip(self.class_names, iou.tolist(), strict=True)},
        }
        if self.bank is not None:
            results.update(support_subset_metrics(iou, self.bank.supported))
        self.log("test/mIoU", results["mIoU"], rank_zero_only=True)
        self.log("test/aAcc", results["aAcc"], rank_zero_only=True)
        self.results = results
        self.metric.reset()

    def configure_optimizers(self) -> None:  # evaluation-only methods train nothing in fit
        return None


def support_subset_metrics(iou: torch.Tensor, supported: torch.Tensor) -> dict[str, float | None]:
    """mIoU over the classes with and without visual support (partial settings, paper Table 3) from (K,)
    per-class IoU × 100 and (K,) bool ``supported``; {} when every class has support."""
    if bool(supported.all()):
        return {}
    with_images = torch.nonzero(supported).squeeze(1).tolist()
    without = torch.nonzero(~supported).squeeze(1).tolist()
    # null, not NaN, when none of a subset's classes is in the test images (a short test_limit)
    return {
        "mIoU_supported": _finite_or_none(subset_miou(iou / 100.0, with_images)),
        "mIoU_unsupported": _finite_or_none(subset_miou(iou / 100.0, without)),
    }


def _without_label(label: torch.Tensor, index: int) -> torch.Tensor:
    """A label map with class ``index`` ignored and the classes after it renumbered down."""
    ignore = label == index
    shifted = torch.where((label > index) & (label != 255), label - 1, label)
    return torch.where(ignore, torch.full_like(label, 255), shifted)


def _finite_or_none(value: float) -> float | None:
    return None if value != value else float(value)  # NaN (class absent from GT and prediction)


def plain_values(value: Any) -> Any:
    """Tuples as lists, recursively (what a YAML file holds)."""
    if isinstance(value, dict):
        return {k: plain_values(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain_values(v) for v in value]
    return value
