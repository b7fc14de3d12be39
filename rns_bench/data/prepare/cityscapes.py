"""Cityscapes ``gtFine`` polygons → ``*_gtFine_labelTrainIds.png`` with the 19 train ids (protocol §1).

The label maps are drawn by cityscapesscripts itself (``json2labelImg.createLabelImage`` with
the ``trainIds`` encoding and its ``labels.py`` table), exactly what its
``createTrainIdLabelImgs`` and mmsegmentation's ``tools/dataset_converters/cityscapes.py`` do;
this module adds the atomic writes, resumption and errors that name the file. Every
``gtFine/<split>/<city>/<stem>_gtFine_polygons.json`` of every split gets its PNG beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rns_bench.core.atomic_io import atomic_target
from rns_bench.core.errors import InputError
from rns_bench.data.prepare.conversion import ConversionReport, require_folder, run_jobs

POLYGONS_SUFFIX = "_gtFine_polygons.json"
SUFFIX = "_gtFine_labelTrainIds.png"
INSTALL_FIX = "Install it with `pip install cityscapesscripts` (it provides the official label table and drawing)."
FIX = (
    "Download gtFine_trainvaltest.zip from the Cityscapes site and unzip it into <data root>/cityscapes/, "
    "or pass --source pointing at its gtFine folder."
)


@dataclass(frozen=True)
class PolygonsJob:
    """Draw the polygons of ``polygons`` into the train-id map ``output``."""

    polygons: Path
    output: Path


def _cityscapes_api():
    """cityscapesscripts' Annotation, createLabelImage and name2label, or an error saying how to install it."""
    try:
        from cityscapesscripts.helpers.annotation import Annotation
        from cityscapesscripts.helpers.labels import name2label
        from cityscapesscripts.preparation.json2labelImg import createLabelImage
    except ImportError as error:
        raise InputError(
            f"preparing Cityscapes needs the cityscapesscripts package ({error}). {INSTALL_FIX}"
        ) from error
    return Annotation, createLabelImage, name2label


def draw_train_ids(job: PolygonsJob) -> None:
    """Draw one polygons file with the ``trainIds`` encoding and save the PNG atomically."""
    annotation_cls, create_label_image, name2label = _cityscapes_api()
    annotation = annotation_cls()
    try:
        annotation.fromJsonFile(str(job.polygons))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"cannot read the Cityscapes polygons {job.polygons}: {error!r}. Re-extract it. {FIX}"
        ) from error
    for obj in annotation.objects:
        # createLabelImage would sys.exit on an unknown label; fail here with the file name instead.
        label = obj.label if obj.label in name2label or not obj.label.endswith("group") else obj.label[: -len("group")]
        if not obj.deleted and label not in name2label:
            raise InputError(
                f"Cityscapes polygons {job.polygons} use the label {obj.label!r}, which "
                "cityscapesscripts' labels.py does not know; is this a gtFine polygons file?"
            )
    image = create_label_image(annotation, "trainIds")
    with atomic_target(job.output) as tmp:
        image.save(tmp, format="PNG")


def polygon_jobs(gt_dir: Path, out_dir: Path) -> list[PolygonsJob]:
    """One job per ``<split>/<city>/*_gtFine_polygons.json`` under ``gt_dir``, sorted."""
    require_folder(gt_dir, "Cityscapes gtFine annotations", FIX)
    files = sorted(gt_dir.glob(f"*/*/*{POLYGONS_SUFFIX}"))
    if not files:
        raise InputError(f"no *{POLYGONS_SUFFIX} files in {gt_dir}/<split>/<city>/. {FIX}")
    return [
        PolygonsJob(f, out_dir / f.relative_to(gt_dir).parent / (f.name[: -len(POLYGONS_SUFFIX)] + SUFFIX))
        for f in files
    ]


def convert_cityscapes(gt_dir: Path, out_dir: Path | None = None, workers: int = 1) -> ConversionReport:
    """Write ``<split>/<city>/<stem>_gtFine_labelTrainIds.png`` for every polygons file in ``gt_dir``.

    ``out_dir`` defaults to ``gt_dir`` (the PNGs beside their polygons, as cityscapesscripts and
    mmseg do). Existing outputs are kept, so an interrupted run resumes.
    """
    gt_dir = Path(gt_dir)
    out_dir = Path(out_dir) if out_dir is not None else gt_dir
    _cityscapes_api()  # fail before any work when the package is missing
    jobs = polygon_jobs(gt_dir, out_dir)
    written, skipped = run_jobs(jobs, draw_train_ids, "Cityscapes train ids", workers)
    splits = [job.polygons.relative_to(gt_dir).parts[0] for job in jobs]
    counts = ", ".join(f"{split}: {splits.count(split)}" for split in sorted(set(splits)))
    return ConversionReport(written, skipped, out_dir, (f"polygon files per split: {counts}",))
