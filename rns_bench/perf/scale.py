"""``make perf-scale``: how the sweep's cost and memory grow with the data (figures, nothing asserted).

* the support bank's build time at 1,000 / 2,000 / 4,000 support images (``bank_perf``: linear, ×2);
* a sweep's peak RSS over 500 vs 2,000 test images (flat: features and regions stream from the disk
  cache one batch at a time, test labels are kept zlib-compressed), each sweep in a fresh process on a
  fake dataset of real-size images (a declared ``folder_listed`` dataset written here) with the tiny
  ``random_vlm`` backbone, cold caches;
* test labels decoded per job (one per label, however many runs read them) and zero-shot evaluations
  in a sweep over 2 shot counts × 2 seeds (one: ``runs.shared_evaluation``).

``--short``: 50 vs 200 test images, a smaller bank series (CI-sized, about a minute).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rns_bench.perf.bank import print_bank_perf

CLASSES = 20
TRAIN_IMAGES = 40
CELLS = 4  # 2 shot counts × 2 seeds: knn_clip runs each, zero-shot once
IMAGE_HW = (384, 512)  # a real image's order of size (ADE's median is 512 × 683)
GRID = (
    "methods=[zero_shot,knn_clip]",
    "shots=[1,2]",
    "seeds=[100,18]",
    "backbone=random_vlm",
    "save_predictions=0",
    "extraction.support_prefetch=pool",
)


def write_scale_dataset(root: Path, test_images: int, seed: int = 0) -> dict:
    """A ``folder_listed`` dataset under ``root/Scale`` (JPEG images, PNG labels of CLASSES classes in
    blocks); returns its ``dataset:`` declaration."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 255, (CLASSES, 3))
    folder = root / "Scale"
    for split, count in (("train", TRAIN_IMAGES), ("val", test_images)):
        for dirname in ("images", "annotations"):
            (folder / dirname / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            blocks = rng.integers(0, CLASSES, (6, 8)).astype(np.uint8)
            label = cv2.resize(blocks, IMAGE_HW[::-1], interpolation=cv2.INTER_NEAREST)
            image = colours[label] + rng.integers(-20, 20, (*IMAGE_HW, 3))
            cv2.imwrite(str(folder / "images" / split / f"{index:05d}.jpg"), np.clip(image, 0, 255).astype(np.uint8))
            cv2.imwrite(str(folder / "annotations" / split / f"{index:05d}.png"), label)
    (folder / "classes.txt").write_text("".join(f"class {c}\n" for c in range(CLASSES)))
    return {
        "key": "scale",
        "layout": "folder_listed",
        "folder": "Scale",
        "image_dir": "images",
        "label_dir": "annotations",
        "image_suffix": ".jpg",
        "label_suffix": ".png",
        "classes": "classes.txt",
        "support_split": "train",
        "test_split": "val",
    }


def sweep_child(data_root: Path, work: Path, test_limit: int) -> dict:
    """One cold sweep in this process; its figures (run as ``--child``, so the peak RSS is its own)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from rns_bench.bench.sweep import SweepStats, run_sweep
    from rns_bench.core.paths import CONFIG_DIR

    declaration = json.loads((data_root / "declaration.json").read_text())
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "bench",
            overrides=[
                f"data_root={data_root}",
                f"results_dir={work / 'results'}",
                f"cache_dir={work / 'cache'}",
                f"presence_cache_dir={work / 'presence'}",
                f"region_cache_dir={work / 'regions'}",
                f"test_limit={test_limit}",
                *GRID,
            ],
        )
    cfg.dataset = OmegaConf.create(declaration)
    stats, started = SweepStats(), time.perf_counter()
    run_sweep(cfg, stats)
    return {
        "test_images": test_limit,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "evaluated": stats.evaluated,
        "from_shared_evaluation": stats.from_shared_evaluation,
        "label_decodes": stats.label_decodes,
    }


def print_sweep_scale(sizes: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory(prefix="rns-scale-") as tmp:
        data_root = Path(tmp) / "data"
        started = time.perf_counter()
        declaration = write_scale_dataset(data_root, max(sizes))
        (data_root / "declaration.json").write_text(json.dumps(declaration))
        print(
            f"fake dataset: {max(sizes)} test + {TRAIN_IMAGES} train images of {IMAGE_HW[0]}×{IMAGE_HW[1]}, "
            f"{CLASSES} classes ({time.perf_counter() - started:.0f} s to write); sweep: {' '.join(GRID)}"
        )
        results = []
        for size in sizes:
            child = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "rns_bench.perf.scale",
                    "--child",
                    str(data_root),
                    str(Path(tmp) / f"work{size}"),
                    str(size),
                ],
                capture_output=True,
                text=True,
            )
            if child.returncode != 0:
                raise RuntimeError(f"the {size}-image sweep failed:\n{child.stderr[-3000:]}")
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print("| test images | peak RSS MB | s | runs evaluated | records from a shared evaluation | labels decoded |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['test_images']} | {r['peak_rss_mb']} | {r['seconds']} | {r['evaluated']} | "
            f"{r['from_shared_evaluation']} | {r['label_decodes']} |"
        )
    small, large = results
    print(
        f"peak RSS {large['test_images']} / {small['test_images']} test images: "
        f"×{large['peak_rss_mb'] / small['peak_rss_mb']:.2f} (flat: ≈ 1; the images ×{sizes[1] / sizes[0]:.0f}); "
        f"zero-shot evaluations over 2 B × 2 seeds: {large['evaluated'] - CELLS} ({large['from_shared_evaluation']} "
        f"records from it); "
        f"labels decoded per test label: {large['label_decodes'] / large['test_images']:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="50 vs 200 test images, a smaller bank series")
    parser.add_argument("--child", nargs=3, metavar=("DATA_ROOT", "WORK", "TEST_LIMIT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(sweep_child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))))
        return
    print_bank_perf(args.short)
    print()
    print_sweep_scale((50, 200) if args.short else (500, 2000))


if __name__ == "__main__":
    main()
