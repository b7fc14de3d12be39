"""``make plan NAME=<experiment>``: what an experiment will do on the datasets present, before it spends anything.

For every job of the experiment's Hydra sweep (``hydra.sweeper.params`` × the command line's overrides,
exactly as ``make experiment`` expands them) the plan composes the job's config, draws its support
splits and fingerprints its runs as the sweep does — no backbone is loaded: its patch size, width and
depth come from :data:`BACKBONE_COSTS` (tiny random test backbones are built, they load nothing) — and
counts:

* runs, those already recorded (same fingerprint), those served by a shared zero-shot evaluation;
* test-image evaluations and RNS trainings (one per test image of each evaluated RNS-family run);
* images to extract (test split and support images, under the sweep's prefetch rule) and those
  already in the feature cache; the cache's size on disk;
* peak RAM per job and GPU-hours on a named GPU, from the model below.

**The cost model** (estimates; every number is printed with its inputs so it can be checked):

* extraction FLOPs per window of T tokens = layers × (24·T·width² + 4·T²·width) (a ViT forward), windows
  from the backbone's sliding-window settings at each image's resized size (image headers are read);
* one RNS training = steps × 6 × N × K × D FLOPs (forward and backward of the (N × D)·(D × K) product,
  N = patches + 3K training rows);
* GPU time = FLOPs / (the GPU's dense peak × utilisation): peaks from the vendors' data sheets (bf16 under
  ``trainer.precision=bf16-mixed``, else TF32), utilisation 40 % for the backbone and 5 % for RNS's small
  per-image products — assumptions until a GPU's measured ``make perf`` figures replace them;
* peak RAM = 1.5 GB (Python, torch, libraries) + backbone weights (4 B a parameter) + one test batch's
  features, queries and probabilities + one full-resolution (K, H, W) float32 probability map + the
  job's compressed test labels (≈ 1/20 byte a pixel) + one support bank (B·K images' rows).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from rns_bench.backbones import build_backbone
from rns_bench.core.errors import ConfigError, RNSBenchError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.data.datasets import resolve_data_root
from rns_bench.data.declared import dataset_spec
from rns_bench.data.readers.label_reader import decoded_size
from rns_bench.methods import load_methods
from rns_bench.ops.resize import rescale_size
from rns_bench.runs.config import RunConfig, method_rows, sweep_protocol
from rns_bench.runs.context import (
    RunContext,
    check_dataset_files,
    context_of,
    support_dataset_spec,
)
from rns_bench.runs.extraction import sweep_images
from rns_bench.runs.fingerprint import evaluation_fingerprint
from rns_bench.runs.key import RunKey
from rns_bench.runs.plan import PlannedRun, plan_run
from rns_bench.runs.records import has_record, read_records
from rns_bench.runs.schema import validate_config
from rns_bench.runs.shared_evaluation import SharedEvaluations

BASELINE_RAM_GB = 1.5
BACKBONE_UTILISATION, RNS_UTILISATION = 0.40, 0.05
LABEL_BYTES_PER_PIXEL = 1 / 20  # zlib-compressed uint8 label maps
# Dense peak TFLOP/s (bf16, TF32) from the data sheets (no sparsity).
GPUS = {
    "a100": (312.0, 156.0),
    "h100": (989.0, 495.0),
    "h200": (989.0, 495.0),
    "l40s": (362.0, 183.0),
    "v100": (125.0, 15.7),
    "a6000": (155.0, 77.0),
}
TINY_BACKBONES = ("toy_vlm", "random_vlm", "clip_tiny", "siglip2_tiny")  # random-init: built, nothing loaded


@dataclass(frozen=True)
class BackboneCost:
    """What the cost model needs of a backbone: patch size, feature width D, ViT depth and width, parameters."""

    name: str
    patch_size: int
    dim: int
    layers: int
    width: int
    params_millions: float

    def provenance(self) -> dict:
        return {}  # the plan assumes a pinned package (dinov3_txt's checkout commit is not read)

    def window_flops(self, tokens: int) -> float:
        return self.layers * (24 * tokens * self.width**2 + 4 * tokens**2 * self.width)


BACKBONE_COSTS = {
    "clip_b16": BackboneCost("clip_b16", 16, 512, 12, 768, 150),
    "siglip2_l16": BackboneCost("siglip2_l16", 16, 1024, 24, 1024, 880),
    "dinov3_txt": BackboneCost("dinov3_txt", 16, 2048, 24, 1024, 1000),
}


@dataclass
class JobPlan:
    """The plan of one job (one composed config: a dataset × protocol × … of the sweep)."""

    overrides: list[str]
    dataset: str = ""
    skipped: str = ""  # why the job will not run (its dataset is missing)
    runs: int = 0
    recorded: int = 0
    shared: int = 0  # records a shared zero-shot evaluation will give
    evaluations: int = 0
    test_images: int = 0
    rns_trainings: int = 0
    extract: dict[str, int] = field(default_factory=dict)  # split → images to extract
    cached: dict[str, int] = field(default_factory=dict)  # split → images already in the cache
    cache_gb: float = 0.0
    peak_ram_gb: float = 0.0
    extraction_tflop: float = 0.0
    rns_tflop: float = 0.0
    bf16: bool = False  # extracted and trained under bf16 autocast (trainer.precision=bf16-mixed)

    def gpu_hours(self, gpu: str) -> float:
        peak = GPUS[gpu][0 if self.bf16 else 1] * 1e12
        return (
            self.extraction_tflop * 1e12 / (peak * BACKBONE_UTILISATION)
            + self.rns_tflop * 1e12 / (peak * RNS_UTILISATION)
        ) / 3600


def sweep_jobs(name: str, overrides: Sequence[str]) -> list[list[str]]:
    """The override lists of the experiment's jobs: ``hydra.sweeper.params`` with the command line's values
    for a swept key replacing the file's (``dataset=voc,ade`` narrows), the rest appended to every job."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("bench", overrides=[f"experiment={name}", *_plain_overrides(overrides)], return_hydra_config=True)
    params = dict(OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=False) or {})
    fixed = []
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") in params:
            params[key.lstrip("+")] = value
        else:
            fixed.append(override)
    axes = [[f"{key}={value}" for value in str(values).split(",")] for key, values in params.items()]
    return [[*job, *fixed] for job in itertools.product(*axes)] if axes else [fixed]


def plan_experiment(name: str, overrides: Sequence[str] = ()) -> list[JobPlan]:
    if not (CONFIG_DIR / "experiment" / f"{name}.yaml").exists():
        raise ConfigError(f"no experiment {name!r}: configs/experiment/{name}.yaml does not exist")
    plans = []
    for job in sweep_jobs(name, overrides):
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("bench", overrides=[f"experiment={name}", *job])
        plans.append(plan_job(cfg, job))
    return plans


def plan_job(cfg: DictConfig, overrides: list[str]) -> JobPlan:
    """Count what ``run_sweep(cfg)`` will do (see the module docstring), loading no backbone."""
    run = validate_config(cfg, overrides)
    plan = JobPlan(overrides, bf16=run.autocast == "bfloat16")
    data_root = resolve_data_root(run.data_root)
    try:
        spec = dataset_spec(run.dataset, data_root)
        plan.dataset = spec.key
        check_dataset_files(spec, data_root)
    except RNSBenchError as error:  # the sweep skips a job whose dataset is missing, with a message
        plan.skipped = str(error).splitlines()[0].split(";")[0]
        return plan
    backbone = backbone_cost(run)
    context = context_of(run, spec, data_root, backbone, support_dataset_spec(run.support_dataset, spec, data_root))
    stores = {"support": context.support_store, "test": context.test_store}
    protocol, registry = sweep_protocol(run), load_methods()
    keys = [
        (row, RunKey(spec.key, run.backbone_name, protocol, row.row, int(b), int(s)))
        for b in run.shots
        for s in run.seeds_for(context.support_spec)
        for row in method_rows(run)
    ]
    planned = [plan_run(run, context, row, key) for row, key in keys]
    todo = [p for p in planned if not has_record(p.record_path(run.results_dir), p.fingerprint)]
    shared = SharedEvaluations(read_records(run.results_dir, spec.key, run.backbone_name, protocol))
    plan.runs, plan.recorded, plan.test_images = len(planned), len(planned) - len(todo), len(context.test_ids)
    evaluated = []
    for job in todo:
        if not registry.get(job.row.method).reads_support:
            evaluation = evaluation_fingerprint(job.identity)
            if shared.has(evaluation):
                plan.shared += 1
                continue
            shared.add(evaluation, None)
        evaluated.append(job)
    plan.evaluations = len(evaluated) * plan.test_images
    rns_runs = [job for job in evaluated if "rns" in job.row.method]
    plan.rns_trainings = len(rns_runs) * plan.test_images
    _count_extraction(plan, run, context, stores, backbone, todo)
    classes = len(context.class_names)
    test_grid = (
        _patch_grid(context.reader, context.test_ids[0], stores["test"].settings.short_side, backbone.patch_size)
        if context.test_ids
        else (0, 0)
    )
    for job in rns_runs:
        steps = int(job.options.get("steps", 700))
        rows = test_grid[0] * test_grid[1] + 3 * classes
        plan.rns_tflop += plan.test_images * steps * 6 * rows * classes * backbone.dim / 1e12
    plan.peak_ram_gb = _peak_ram_gb(run, context, backbone, test_grid, classes, len(context.test_ids))
    return plan


def _count_extraction(
    plan: JobPlan,
    run: RunConfig,
    context: RunContext,
    stores: dict[str, Any],
    backbone: BackboneCost,
    todo: list[PlannedRun],
) -> None:
    """Images to extract and already cached, their FLOPs and the new cache's size, into ``plan``."""
    readers = {"test": context.reader, "support": context.support_reader}
    jobs = sweep_images(run, context, [job.key for job in todo], [job.row.method for job in todo]) if todo else []
    sizes = {}
    for split, image_id in dict.fromkeys(jobs):
        store, reader = stores[split], readers[split]
        cached = bool(run.cache_dir) and store.cache.has(reader.image_digest(image_id))
        target = plan.cached if cached else plan.extract
        target[split] = target.get(split, 0) + 1
        if not cached:
            sizes[split, image_id] = _patch_grid(reader, image_id, store.settings.short_side, backbone.patch_size)
            plan.extraction_tflop += _extraction_flops(store, backbone, sizes[split, image_id]) / 1e12
    bytes_per_value = 2 if run.extraction.cache_dtype == "float16" else 4
    plan.cache_gb = sum(h * w for h, w in sizes.values()) * backbone.dim * bytes_per_value / 1e9


def backbone_cost(run: RunConfig) -> BackboneCost:
    """The cost model of ``run.backbone`` (its table entry; tiny random backbones are built to read it)."""
    name = run.backbone_name
    if name in BACKBONE_COSTS:
        return BACKBONE_COSTS[name]
    if name in TINY_BACKBONES:
        options = run.backbone.get("options") or {}
        built = build_backbone(name, **{k: v for k, v in options.items() if k != "device"})
        params = sum(p.numel() for p in built.parameters()) / 1e6 if hasattr(built, "parameters") else 0.0
        return BackboneCost(name, built.patch_size, built.dim, 1, built.dim, params)
    raise ConfigError(
        f"make plan has no cost model for backbone {name!r}; known: "
        f"{', '.join([*BACKBONE_COSTS, *TINY_BACKBONES])} (add it to rns_bench/bench/plan.py "
        "BACKBONE_COSTS)"
    )


def _image_size(reader: Any, image_id: str) -> tuple[int, int]:
    """(H, W) of an image as decoded: from the file's header, or decoded (Hugging Face cells have no file)."""
    path = reader.image_path(image_id)
    return decoded_size(path)[0] if path.is_file() else reader.read_image(image_id).shape[:2]


def _patch_grid(reader: Any, image_id: str, short_side: int | None, patch: int) -> tuple[int, int]:
    """(h, w) patches of an image after the resize."""
    resized = rescale_size(*_image_size(reader, image_id), short_side)
    return math.ceil(resized[0] / patch), math.ceil(resized[1] / patch)


def _extraction_flops(store: Any, backbone: BackboneCost, grid: tuple[int, int]) -> float:
    if store.settings.windows is None:
        return backbone.window_flops(grid[0] * grid[1] + 1)
    resized = (grid[0] * backbone.patch_size, grid[1] * backbone.patch_size)
    flops = 0.0
    for spec in store.settings.windows:
        crop_tokens = (spec.crop // backbone.patch_size) ** 2 + 1
        windows = max(1, math.ceil(max(resized[0] - spec.crop, 0) / spec.stride) + 1) * max(
            1, math.ceil(max(resized[1] - spec.crop, 0) / spec.stride) + 1
        )
        flops += windows * backbone.window_flops(crop_tokens)
    return flops


def _peak_ram_gb(
    run: RunConfig,
    context: RunContext,
    backbone: BackboneCost,
    grid: tuple[int, int],
    classes: int,
    test_images: int,
) -> float:
    if not context.test_ids:
        return BASELINE_RAM_GB
    height, width = _image_size(context.reader, context.test_ids[0])
    batch = int(run.batch_size) * grid[0] * grid[1] * (2 * backbone.dim + classes) * 4
    probability_map = classes * height * width * 4
    labels = test_images * height * width * LABEL_BYTES_PER_PIXEL
    bank = max(int(s) for s in run.shots) * classes * classes * backbone.dim * 4
    return BASELINE_RAM_GB + (backbone.params_millions * 4e6 + batch + probability_map + labels + bank) / 1e9


def format_plan(plans: Sequence[JobPlan], gpu: str) -> str:
    """The plan as a table, one line a job, and the totals."""
    lines = [
        "| job | runs | recorded | from shared zero-shot | test-image evaluations | RNS trainings | "
        "images to extract (test + support) | already cached | cache GB | peak RAM GB | "
        f"GPU-hours ({gpu}; bf16 under bf16-mixed, else tf32) |",
        "|" + "---|" * 11,
    ]
    common = set.intersection(*(set(p.overrides) for p in plans)) if len(plans) > 1 else set()
    for plan in plans:
        job = " ".join(o for o in plan.overrides if o not in common) or plan.dataset  # what tells the jobs apart
        if plan.skipped:
            lines.append(f"| {job} | skipped: {plan.skipped} |" + " |" * 9)
            continue
        lines.append(
            f"| {job} | {plan.runs} | {plan.recorded} | {plan.shared} | {plan.evaluations} | "
            f"{plan.rns_trainings} | {plan.extract.get('test', 0)} + {plan.extract.get('support', 0)} | "
            f"{sum(plan.cached.values())} | {plan.cache_gb:.2f} | {plan.peak_ram_gb:.1f} | "
            f"{plan.gpu_hours(gpu):.2f} |"
        )
    active = [p for p in plans if not p.skipped]
    lines.append(
        f"\ntotal: {len(active)} jobs ({len(plans) - len(active)} skipped), "
        f"{sum(p.runs - p.recorded - p.shared for p in active)} runs to evaluate, "
        f"{sum(p.evaluations for p in active)} test-image evaluations, "
        f"{sum(p.rns_trainings for p in active)} RNS trainings, "
        f"{sum(sum(p.extract.values()) for p in active)} images to extract, "
        f"{sum(p.cache_gb for p in active):.2f} GB of new cache, "
        f"max peak RAM {max((p.peak_ram_gb for p in active), default=0):.1f} GB a job, "
        f"≈ {sum(p.gpu_hours(gpu) for p in active):.2f} GPU-hours on one {gpu} "
        f"(model: rns_bench/bench/plan.py; estimates)"
    )
    return "\n".join(lines)


def _plain_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides without comma lists (sweep values), for composing the experiment's own config."""
    return [o for o in overrides if "," not in o.partition("=")[2] or o.partition("=")[2].startswith("[")]
