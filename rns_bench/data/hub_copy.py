"""Materialise a maintained Hugging Face Hub copy of a benchmark into our on-disk layout (``fetch --from-hub``).

ADE20K: ``scene_parse_150``. Its loading script does not run under ``datasets`` ≥ 4, but the Hub's
parquet conversion of it (``revision="refs/convert/parquet"``, config ``scene_parsing``) does: rows of
``image`` (the JPEG) and ``annotation`` (the PNG of ADEChallengeData2016: 0 = other, 1..150), splits
``train`` / ``validation``. The cells' bytes are written unchanged to
``ADEChallengeData2016/images/{training,validation}/<name>.jpg`` and ``annotations/…/<name>.png`` —
``<name>`` from the cell's stored file path (ADE_train_00000001 …), so the reader lists them in the
original names' order and the sampler draws what it draws on the official archive. A copy whose
cells carry no file names is refused (row-number names would change the support splits). Then the
counts (20210 / 2000) and every label value are checked with ``verify``; writes are atomic and an
interrupted fetch resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from rns_bench.core.atomic_io import atomic_target
from rns_bench.core.errors import InputError
from rns_bench.data.readers.hf_layout import HFSource, load_split


@dataclass(frozen=True)
class HubCopy:
    """A Hub dataset holding a benchmark, and where its splits and columns go in our layout."""

    repo: str
    revision: str | None
    name: str | None
    folder: str  # under the data root
    splits: dict[str, str]  # Hub split → our split folder
    image_column: str
    label_column: str
    image_suffix: str = ".jpg"
    label_suffix: str = ".png"


HUB_COPIES = {
    "ade": HubCopy(
        repo="scene_parse_150",
        revision="refs/convert/parquet",
        name="scene_parsing",
        folder="ADEChallengeData2016",
        splits={"train": "training", "validation": "validation"},
        image_column="image",
        label_column="annotation",
    ),
}


def materialise(key: str, data_root: Path, local_copy: Path | None = None) -> tuple[Path, int]:
    """Write the Hub copy of ``key`` (or a ``save_to_disk`` folder of it, ``local_copy``) under ``data_root``
    in the reader's layout; returns (dataset folder, files written). Existing files are kept (resume)."""
    if key not in HUB_COPIES:
        raise InputError(f"no Hugging Face Hub copy is known for {key!r}; known: {', '.join(HUB_COPIES)}")
    copy = HUB_COPIES[key]
    source = (
        HFSource("disk", str(local_copy))
        if local_copy is not None
        else HFSource("hub", copy.repo, revision=copy.revision, name=copy.name)
    )
    fix = f"fetch {key} from its archive instead (python -m rns_bench.data fetch {key} says where)"
    root = Path(data_root) / copy.folder
    written = 0
    for hub_split, split in copy.splits.items():
        rows = load_split(source, hub_split, fix)
        for column in (copy.image_column, copy.label_column):
            if column not in rows.column_names:
                raise InputError(
                    f"the Hub copy {copy.repo} has no column {column!r} in split {hub_split!r}; "
                    f"columns: {', '.join(rows.column_names)}"
                )
        import datasets

        rows = rows.cast_column(copy.image_column, datasets.Image(decode=False))
        rows = rows.cast_column(copy.label_column, datasets.Image(decode=False))
        for index, row in enumerate(tqdm(rows, desc=f"{key} {split}", unit="image")):
            image, label = row[copy.image_column], row[copy.label_column]
            name = _stem(image, f"{copy.repo} {hub_split} row {index}")
            targets = (
                (root / "images" / split / f"{name}{copy.image_suffix}", image),
                (root / "annotations" / split / f"{name}{copy.label_suffix}", label),
            )
            for target, cell in targets:
                if target.exists():
                    continue
                if not cell.get("bytes"):
                    raise InputError(
                        f"{copy.repo} {hub_split} row {index} ({name}) has no stored bytes in "
                        f"column {'image' if cell is image else 'label'}; {fix}"
                    )
                with atomic_target(target) as tmp:
                    tmp.write_bytes(cell["bytes"])
                written += 1
    return root, written


def _stem(cell: dict, where: str) -> str:
    path = cell.get("path")
    if not path:
        raise InputError(
            f"{where} carries no file name, so the original image order (which support sampling "
            f"depends on) cannot be restored; use the official archive instead"
        )
    return PurePosixPath(str(path)).stem
