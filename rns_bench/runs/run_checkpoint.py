"""A long run's partial confusion matrix on disk, so a killed run resumes where it stopped.

Every ``checkpoint_every`` test images (at the first batch boundary past it) a process writes its
confusion matrix and how many of its test images it has counted, atomically, beside the run's record:

    <row>/<cell>-<fingerprint[:12]>.partial-rank<r>of<w>.safetensors

A re-run of the same config (the same fingerprint: the same test images, batch size and options)
skips those images and starts from that matrix. Batches are formed as in an uninterrupted run and
every per-image seed is the image's own (RNS), so the final confusion matrix — and mIoU — is exactly
the uninterrupted one. The file is removed once the record is written; a file of another config,
world size or class count is never read (another name, or its metadata does not match).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rns_bench.core.atomic_io import atomic_target
from rns_bench.runs.key import RunKey


@dataclass(frozen=True)
class RunCheckpoint:
    """One process's checkpoint of one run (``every``: test images between writes)."""

    path: Path
    fingerprint: str
    every: int

    @classmethod
    def of(
        cls, results_dir: Path, key: RunKey, fingerprint: str, every: int, rank: int = 0, world_size: int = 1
    ) -> RunCheckpoint:
        record = key.record_path(results_dir, fingerprint)
        return cls(record.with_name(f"{record.stem}.partial-rank{rank}of{world_size}.safetensors"), fingerprint, every)

    def load(self, num_classes: int) -> tuple[torch.Tensor, int] | None:
        """(K, K) int64 confusion matrix and images counted, or None (none saved, or unusable: started over)."""
        if not self.path.exists():
            return None
        try:
            with safe_open(str(self.path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                confmat = handle.get_tensor("confmat")
            if metadata.get("fingerprint") != self.fingerprint:
                raise ValueError("it belongs to another config")
            if confmat.dtype != torch.int64 or tuple(confmat.shape) != (num_classes, num_classes):
                raise ValueError(f"its matrix is {confmat.dtype}{tuple(confmat.shape)}")
            images = int(metadata["images"])
        except (SafetensorError, OSError, ValueError, KeyError) as error:
            warnings.warn(f"ignoring the run checkpoint {self.path} ({error}); the run starts over", stacklevel=2)
            return None
        return confmat, images

    def save(self, confmat: torch.Tensor, images: int) -> None:
        with atomic_target(self.path) as tmp:
            save_file(
                {"confmat": confmat.detach().to("cpu", torch.int64).contiguous()},
                str(tmp),
                metadata={"fingerprint": self.fingerprint, "images": str(images)},
            )
