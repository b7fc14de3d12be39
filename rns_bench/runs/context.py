"""A run's context: what every run on one dataset × backbone shares (readers, presence, feature
stores, text features, adapted encoders), and building it (``build_context`` from the config,
``prepare_context`` from parts): the context itself holds built parts only.

Support images come from the train split (protocol §2), test images from val; with
``support_dataset`` (Fig. 9) the support comes from another dataset's train split, with its own
reader, presence index and feature cache, when the two class lists agree.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rns_bench.backbones.base import Backbone
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.core.file_digests import FileDigests
from rns_bench.data.datasets import DatasetSpec, resolve_data_root
from rns_bench.data.declared import dataset_spec, spec_for_key
from rns_bench.data.presence_index import PresenceIndex, PresenceKey, compute_presence
from rns_bench.data.sampling import SupportSplit
from rns_bench.data.support_splits import draw_support_split
from rns_bench.features.dense import DenseFeatures
from rns_bench.features.store import FeatureStore
from rns_bench.methods.adapted import AdaptedEncoders
from rns_bench.ops.resize import resize_label
from rns_bench.proposals import build_proposer
from rns_bench.proposals.cache import RegionCache
from rns_bench.proposals.store import RegionStore, resized_image_loader
from rns_bench.runs.config import RunConfig
from rns_bench.runs.fingerprint import data_identity
from rns_bench.runs.stores import build_feature_stores
from rns_bench.runs.weights import run_backbone, weights_loading
from rns_bench.support.bank import SupportBank

FILE_DIGESTS_NAME = "file-digests.sqlite"
REGIONS_BY_CONTENT = "by-image-content"  # the region cache's folder for entries named by image content
PREPARE_CHUNK = 16  # region maps proposed / checked at a time before a run streams them


@dataclass
class RunContext:
    """What every run on one dataset × backbone shares, built (``build_context``, ``prepare_context``):
    readers, class presence, features, adapted encoders.

    ``support_store`` and ``test_store`` extract with the backbone's support and test settings
    (protocol §3: e.g. crops 448 + 224 / stride 112 for support, 448 / 224 for test) and share
    one backbone; the support resize also defines class presence (§2.2). ``test_store=None``
    makes a context that only draws support splits and builds banks. ``support_spec`` is the
    dataset support is drawn from (``spec`` itself unless Fig. 9's ``support_dataset``), read by
    ``support_reader``; ``presence_index`` keeps its class presence (on disk or in memory).
    """

    spec: DatasetSpec
    support_spec: DatasetSpec
    reader: Any  # spec's layout reader (image_ids, read_image, read_label, digests)
    support_reader: Any
    support_store: FeatureStore
    test_store: FeatureStore | None
    presence_index: PresenceIndex
    file_digests: FileDigests  # content digests of the data files
    test_limit: int | None = None
    region_store: RegionStore | None = None  # region mode: proposals of the test images (rns spec §6)
    # Encoders adapted to support images (finetune baselines) and the features taken with them; a context
    # made by ``with_backbone`` starts with its own (empty) one.
    adapted_encoders: AdaptedEncoders = field(default_factory=AdaptedEncoders, init=False, repr=False, compare=False)
    _support_identities: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _test_labels: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    label_decodes: int = field(default=0, init=False, repr=False, compare=False)
    _last_bank: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.test_store is not None and self.test_store.backbone is not self.support_store.backbone:
            raise InputError(
                "the support and test feature stores must share one backbone (text features and "
                "patch size come from it); build both from the same backbone object"
            )

    def with_backbone(self, backbone: Backbone) -> RunContext:
        """This context with features from ``backbone`` (same extraction settings, no disk cache):
        for an encoder adapted to one run's support images, whose features no other run shares.
        Made once per encoder (``adapted_encoders``), so the rows that share an adapted encoder share
        its features too."""

        def fresh(store: FeatureStore) -> FeatureStore:
            return FeatureStore(backbone, None, store.settings, store.image_batch, store.window_batch)

        return self.adapted_encoders.built_for(
            backbone,
            lambda: replace(
                self,
                support_store=fresh(self.support_store),
                test_store=fresh(self.test_store) if self.test_store is not None else None,
            ),
        )

    @property
    def backbone(self) -> Backbone:
        return self.support_store.backbone

    def test_features(self, image_ids: Sequence[str] | None = None, keep: bool = True) -> list[DenseFeatures]:
        """Dense features of ``image_ids`` (default: every id of ``test_ids``) under the test settings, in order
        (``keep=False``: read from the disk cache without keeping them, see ``FeatureStore.get``)."""
        if self.test_store is None:
            raise InputError("this RunContext has no test_store: build it with one to evaluate test images")
        ids = self.test_ids if image_ids is None else list(image_ids)
        return self.test_store.get(
            ids, self.reader.read_image, desc="test features", entry_name=self.reader.image_digest, keep=keep
        )

    def test_regions(self, image_ids: Sequence[str] | None = None, keep: bool = True) -> list[torch.Tensor] | None:
        """(H_r, W_r) region maps of ``image_ids`` (default: ``test_ids``) at the resized test resolution,
        or None (patch mode)."""
        if self.region_store is None:
            return None
        loader = resized_image_loader(self.reader.read_image, self.test_store.short_side)
        return self.region_store.get(
            self.test_ids if image_ids is None else list(image_ids),
            loader,
            entry_name=self.reader.image_digest,
            keep=keep,
        )

    @property
    def streams_test_items(self) -> bool:
        """Whether runs read test features one batch at a time from the disk cache (bounded memory) instead
        of holding the split's (no cache: computed once, kept)."""
        return self.test_store is not None and self.test_store.cache is not None

    def prepare_test_items(self, image_ids: Sequence[str]) -> None:
        """Extract (and, in region mode, propose) into the disk caches what ``image_ids`` miss, keeping nothing."""
        self.test_store.precompute(list(image_ids), self.reader.read_image, entry_name=self.reader.image_digest)
        if self.region_store is not None:
            for start in range(0, len(image_ids), PREPARE_CHUNK):
                self.test_regions(image_ids[start : start + PREPARE_CHUNK], keep=False)

    @property
    def class_names(self) -> list[str]:
        return self.spec.class_names()

    @property
    def cross_dataset(self) -> bool:
        """Support drawn from another dataset than the test images (Fig. 9)."""
        return self.support_spec is not self.spec

    def presence(self, pool_ids: list[str]) -> np.ndarray:
        """(P, K) class presence of the pool images on the support-resized labels (§2.2)."""
        return compute_presence(
            self.support_reader.read_label, pool_ids, len(self.class_names), self.support_store.short_side
        )

    def support_split(self, shots: int, seed: int) -> SupportSplit:
        return draw_support_split(self.support_spec, self.support_reader, shots, seed, self._presence_of)

    def images_per_class(self, split: SupportSplit) -> dict[str, int]:
        """class name → support images of ``split`` that contain it (after the support resize, §2.2):
        at least ``split.shots`` unless the pool has fewer candidates."""
        counts = self._presence_of(list(split.image_ids)).sum(axis=0)
        return {name: int(n) for name, n in zip(self.class_names, counts, strict=True)}

    def _presence_of(self, pool: list[str]) -> np.ndarray:
        """Presence rows of ``pool``, computed once per image for all seeds and shots (and, with an on-disk
        ``presence_index``, for every later run too)."""
        rows = self.presence_index.rows(pool, self.support_reader.read_label, self.support_reader.label_digest)
        self.file_digests.flush()
        return rows

    @cached_property
    def test_ids(self) -> list[str]:
        ids = self.reader.image_ids(self.spec.test_split)
        return ids[: self.test_limit] if self.test_limit else ids

    @cached_property
    def data_identity(self) -> dict[str, Any]:
        """What of the data a run's number depends on (``runs.fingerprint.data_identity``: the test images
        and their labels by content), once per context."""
        identity = data_identity(
            self.spec.key,
            self.spec.data_version,
            self.spec.class_list_sha256(),
            self.test_ids,
            self.reader.contents_sha256(self.test_ids),
        )
        if self.cross_dataset:  # records name both datasets; in-domain identities stay as they were
            identity["support_dataset"] = {
                "dataset": self.support_spec.key,
                "data_version": self.support_spec.data_version,
            }
        return identity

    def support_identity(self, shots: int, seed: int) -> dict[str, Any]:
        """The support split of (shots, seed) by content: its image ids with their image and label digests.
        A relabelled pool file changes it when it moves the split (through presence) or is in it."""
        split = self.support_split(shots, seed)
        key = (split.sha256, shots, seed)
        if key not in self._support_identities:
            self._support_identities[key] = {
                "split_sha256": split.sha256,
                "contents_sha256": self.support_reader.contents_sha256(split.image_ids),
            }
        return self._support_identities[key]

    @cached_property
    def text_features(self) -> torch.Tensor:
        with torch.no_grad():
            return self.backbone.encode_text(self.class_names).float().cpu()

    def test_label(self, image_id: str) -> np.ndarray:
        """(H, W) uint8 label of a test image (read-only), decoded and checked once per context: every run of a
        job reads the same labels (K < 255 classes + ignore fit a byte). ``label_decodes`` counts the decodes."""
        stored = self._test_labels.get(image_id)
        if stored is None:
            label = self.reader.read_label(image_id)
            self.label_decodes += 1
            # kept zlib-compressed (label maps shrink 20-100×): memory stays flat in the number of test images
            self._test_labels[image_id] = stored = (label.shape, zlib.compress(label.tobytes(), 1))
        shape, data = stored
        return np.frombuffer(zlib.decompress(data), dtype=np.uint8).reshape(shape)

    def build_bank(self, support_ids: tuple[str, ...]) -> SupportBank:
        """The bank of ``support_ids``, built once for the rows of one support set (they run one after
        another): methods read it and never grow it in place (``without_classes`` and friends copy)."""
        if self._last_bank is not None and self._last_bank[0] == tuple(support_ids):
            return self._last_bank[1]
        self._last_bank = None  # one bank in memory at a time
        bank = self._build_bank(tuple(support_ids))
        self._last_bank = (tuple(support_ids), bank)
        return bank

    def _build_bank(self, support_ids: tuple[str, ...]) -> SupportBank:
        backbone = self.backbone
        bank = SupportBank(len(self.class_names), backbone.dim)
        dense = self.support_store.get(
            list(support_ids),
            self.support_reader.read_image,
            desc="support features",
            entry_name=self.support_reader.image_digest,
            keep=False,
        )
        for image_id, features in zip(support_ids, dense, strict=True):
            label = resize_label(self.support_reader.read_label(image_id), features.resized_hw)
            bank.add_image(image_id, features.features, torch.from_numpy(label.astype(np.int64)), backbone.patch_size)
        return bank


def prepare_context(
    spec: DatasetSpec,
    data_root: Path,
    support_store: FeatureStore,
    test_store: FeatureStore | None = None,
    *,
    test_limit: int | None = None,
    presence_cache_dir: Path | None = None,
    region_store: RegionStore | None = None,
    support_spec: DatasetSpec | None = None,
    file_digests: FileDigests | None = None,
) -> RunContext:
    """The context of ``spec`` under ``data_root`` with these feature stores: embedded datasets generated,
    readers made (sharing ``file_digests``, else fresh in-memory ones), the presence index opened.
    ``support_spec``: the dataset support is drawn from (None: ``spec``); ``presence_cache_dir``: where the
    on-disk presence index lives (shared by every seed, shots and process; None: in memory, this context's)."""
    if support_spec is None or support_spec.key == spec.key:
        support_spec = spec
    for dataset in dict.fromkeys([spec, support_spec]):
        if dataset.prepare is not None:
            dataset.prepare(data_root)
    reader = spec.make_reader(data_root)
    support_reader = reader if support_spec is spec else support_spec.make_reader(data_root)
    file_digests = FileDigests() if file_digests is None else file_digests
    for each in dict.fromkeys([reader, support_reader]):
        each.use_file_digests(file_digests)
    key = PresenceKey.for_dataset(support_spec, support_store.short_side)
    return RunContext(
        spec,
        support_spec,
        reader,
        support_reader,
        support_store,
        test_store,
        PresenceIndex(presence_cache_dir, key, len(spec.class_names())),
        file_digests,
        test_limit=test_limit,
        region_store=region_store,
    )


def context_of(
    run: RunConfig,
    spec: DatasetSpec,
    data_root: Path,
    backbone: Backbone,
    support_spec: DatasetSpec,
    with_regions: bool = False,
) -> RunContext:
    """The context of ``run`` on ``spec`` with ``backbone``'s feature stores (support and test settings differ,
    §3); ``with_regions``: the region store of region mode too."""
    stores = build_feature_stores(run, backbone)
    return prepare_context(
        spec,
        data_root,
        stores["support"],
        stores["test"],
        test_limit=run.test_limit,
        presence_cache_dir=run.presence_cache_dir,
        region_store=build_region_store(run, stores["test"].short_side) if with_regions else None,
        support_spec=support_spec,
        file_digests=file_digests_of(run),
    )


def build_context(run: RunConfig, backbone: Backbone | None = None) -> RunContext:
    """The context of ``run``'s dataset × backbone: reader, feature stores, presence, regions; ``backbone``:
    use this one (a pack's stand-in) instead of ``run``'s."""
    data_root = resolve_data_root(run.data_root)
    spec = dataset_spec(run.dataset, data_root)  # registered or declared
    support_spec = support_dataset_spec(run.support_dataset, spec, data_root)
    check_dataset_files(spec, data_root)  # before the backbone loads
    if support_spec is not spec:
        support_spec.make_reader(data_root).image_ids(support_spec.support_split)
    context = context_of(run, spec, data_root, backbone or run_backbone(run), support_spec, with_regions=True)
    context.text_features  # noqa: B018  a class name the backbone cannot encode fails now, before any extraction
    return context


def file_digests_of(run: RunConfig) -> FileDigests:
    """Content digests of data files, kept on disk beside the presence index (else the feature cache) so
    each file is read in full once per machine; in memory when neither is configured."""
    folder = run.presence_cache_dir or run.cache_dir
    return FileDigests(folder / FILE_DIGESTS_NAME if folder else None)


def support_dataset_spec(key: str | None, spec: DatasetSpec, data_root: Path) -> DatasetSpec:
    """The dataset of ``support_dataset`` ``key`` (registered or configs/dataset/<key>.yaml), or ``spec``
    itself; its class list must be the test dataset's, name for name (the classifier's classes are one list)."""
    if not key or str(key) == spec.key:
        return spec
    support = spec_for_key(str(key), data_root)
    ours, theirs = spec.class_names(), support.class_names()
    if ours != theirs:
        differing = (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b)
        first = next(differing, min(len(ours), len(theirs)))
        mine = repr(ours[first]) if first < len(ours) else "(none: the list ends)"
        other = repr(theirs[first]) if first < len(theirs) else "(none: the list ends)"
        raise ConfigError(
            f"support_dataset={key}: its class list differs from dataset {spec.key!r} at class "
            f"{first}: {other} in {key}, {mine} in {spec.key} ({len(theirs)} vs {len(ours)} classes); "
            f"support must come from a dataset with the same classes in the same order"
        )
    return support


def check_dataset_files(spec: DatasetSpec, data_root: Path) -> None:
    """Fail now, in one line naming the file, when the test split or one of its images is missing
    (the reader checks every listed id); embedded datasets are generated first."""
    if spec.prepare is not None:
        spec.prepare(data_root)
    reader = spec.make_reader(data_root)
    test_ids = reader.image_ids(spec.test_split)
    expected = spec.expected_counts.get(spec.test_split)
    if expected is not None and expected != len(test_ids):
        warnings.warn(
            f"dataset {spec.key!r}: split {spec.test_split!r} has {len(test_ids)} images under {data_root}, "
            f"its declaration expects {expected} (expected_counts): an incomplete download or another "
            f"version? Its numbers are not comparable to the paper's; `python -m rns_bench.data verify "
            f"{spec.key}` checks every split",
            stacklevel=2,
        )


def build_region_store(run: RunConfig, test_short_side: int | None) -> RegionStore | None:
    """Region proposals of the test images in region mode (rns spec §6), cached on disk."""
    if run.query_mode != "region":
        return None
    if not run.proposer_name:
        raise ConfigError(
            "query_mode=region needs region proposals: add proposer=felzenszwalb (CPU) or "
            "proposer=sam2 with proposer.options.checkpoint=/path/to/sam2.1_hiera_large.pt"
        )
    proposer_options = dict(run.proposer.get("options") or {})
    with weights_loading(f"proposer {run.proposer_name}", proposer_options, "proposer.options"):
        proposer = build_proposer(run.proposer_name, **proposer_options)
    # entries named by image content (reader.image_digest): datasets sharing images share region maps
    cache = (
        RegionCache(run.region_cache_dir, REGIONS_BY_CONTENT, proposer, test_short_side)
        if run.region_cache_dir
        else None
    )
    return RegionStore(proposer, cache)
