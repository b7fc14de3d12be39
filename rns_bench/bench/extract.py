"""Precompute a dataset's test and/or support features into the cache (``python -m rns_bench.features extract``).

A sweep then finds every feature on disk. Which images:

* test: the dataset's test split (its first ``test_limit`` images when set), test settings;
* support, ``support_images=splits`` (default): the union of the support splits the sweep will
  draw, every ``shots`` × ``seeds`` (the dataset's published seeds when ``seeds`` is null);
* support, ``support_images=pool``: every image of the seeds' support pools (§2.1: the whole
  train split up to 5000 images), so any later shots or method finds its features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import DictConfig
from tqdm.auto import tqdm

from rns_bench.core.errors import ConfigError
from rns_bench.data.readers.label_reader import SegmentationReader
from rns_bench.data.sampling import sample_pool
from rns_bench.features.store import ExtractionReport, FeatureStore
from rns_bench.runs.config import RunConfig
from rns_bench.runs.context import RunContext, build_context
from rns_bench.runs.schema import validate_config

SPLIT_CHOICES = ("test", "support", "both")
SUPPORT_IMAGE_CHOICES = ("splits", "pool")


@dataclass(frozen=True)
class ExtractRequest:
    """What to extract: ``split`` in SPLIT_CHOICES, support images from ``support_images`` in SUPPORT_IMAGE_CHOICES."""

    split: str = "both"
    support_images: str = "splits"

    def __post_init__(self) -> None:
        if self.split not in SPLIT_CHOICES:
            raise ConfigError(f"split must be one of {', '.join(SPLIT_CHOICES)}, got {self.split!r}")
        if self.support_images not in SUPPORT_IMAGE_CHOICES:
            raise ConfigError(
                f"support_images must be one of {', '.join(SUPPORT_IMAGE_CHOICES)}, got {self.support_images!r}"
            )


def support_image_ids(run: RunConfig, context: RunContext, support_images: str) -> list[str]:
    """Support images to extract, first-seen order: the sweep's splits (every shots × seed) or the seeds' pools."""
    seeds = run.seeds_for(context.support_spec)
    if support_images == "pool":
        train = context.support_reader.image_ids(context.support_spec.support_split)
        return list(dict.fromkeys(train[i] for seed in seeds for i in sample_pool(len(train), seed)))
    return list(
        dict.fromkeys(
            image_id
            for shots in run.shots
            for seed in seeds
            for image_id in context.support_split(int(shots), seed).image_ids
        )
    )


def extract_features(
    cfg: DictConfig, request: ExtractRequest, overrides: Sequence[str] = ()
) -> dict[str, ExtractionReport]:
    """Fill the cache for the requested splits; returns a report per split ('test', 'support').
    ``overrides``: the command line's, named in a config error."""
    if not cfg.cache_dir:
        raise ConfigError("extract writes the on-disk feature cache: set cache_dir (configs/bench.yaml), not null")
    run = validate_config(cfg, overrides)  # every key and value, before any work
    context = build_context(run)
    jobs: dict[str, tuple[FeatureStore, list[str], SegmentationReader]] = {}
    if request.split in ("test", "both"):
        jobs["test"] = (context.test_store, context.test_ids, context.reader)
    if request.split in ("support", "both"):
        jobs["support"] = (
            context.support_store,
            support_image_ids(run, context, request.support_images),
            context.support_reader,
        )
    reports = {}
    for split, (store, image_ids, reader) in jobs.items():
        desc = f"{split} features ({store.settings.label()})"
        with tqdm(total=len(image_ids), desc=desc, unit="image") as progress:
            reports[split] = store.precompute(image_ids, reader.read_image, progress, reader.image_digest)
        print(format_report(split, reports[split], store))
    return reports


def format_report(split: str, report: ExtractionReport, store: FeatureStore) -> str:
    """One line: counts, throughput and where the entries are."""
    rates = ""
    if report.extracted and report.seconds > 0:
        rates = (
            f" in {report.seconds:.1f} s: {report.windows / report.seconds:.1f} windows/s, "
            f"{report.extracted / report.seconds:.2f} images/s"
        )
    return (
        f"{split}: {report.cached + report.extracted} images ({report.cached} already cached, "
        f"{report.extracted} extracted, {report.windows} windows){rates} → {store.cache.dir}"
    )
