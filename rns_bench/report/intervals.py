"""How sure a cell is: mean, standard deviation and a 95 % interval over support seeds.

One dataset: the mean of its seeds' values, their sample standard deviation and the Student-t
interval ``mean ± t(0.975, n − 1) · std / √n``. A mean over D datasets (each with its own seeds, as
the published seeds differ per dataset) is a sum of independent seed means: its standard error is
``√(Σ s_d² / n_d) / D`` and its degrees of freedom the Welch–Satterthwaite ones, which is the one-dataset
interval again when D = 1. The standard deviation shown for such a mean, ``√(Σ s_d²) / D``, is the spread
of the dataset mean over one draw of support per dataset. Intervals are clipped to [0, 100] (mIoU is a
percentage). A dataset with one seed gives no spread and no interval: one draw says nothing about the next.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import t as student_t

LEVEL = 0.95
BOUNDS = (0.0, 100.0)
METHOD = (
    "± sample std over support seeds; [95 % CI]: Student-t interval on the seed means (t at n − 1 degrees of "
    "freedom; for a mean over datasets, the datasets' variances combined with Welch–Satterthwaite degrees of "
    "freedom), clipped to [0, 100]; n: seeds per dataset; no ± or interval where a dataset has a single seed"
)


def t_quantile(dof: float, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with ``dof`` degrees of freedom (scipy's)."""
    if not dof > 0:
        raise ValueError(f"degrees of freedom must be positive, got {dof}")
    return float(student_t.ppf(0.5 + level / 2, dof))


@dataclass(frozen=True)
class Spread:
    """A cell's mean over seeds (and datasets), with its std and 95 % interval (None: one seed somewhere)."""

    mean: float
    std: float | None
    low: float | None
    high: float | None
    seeds: tuple[int, ...]  # seeds of each dataset

    @property
    def seeds_text(self) -> str:
        """``4``, or ``4–8`` when the datasets have different numbers of seeds."""
        fewest, most = min(self.seeds), max(self.seeds)
        return str(fewest) if fewest == most else f"{fewest}–{most}"


def _clip(value: float) -> float:
    return min(max(value, BOUNDS[0]), BOUNDS[1])


def spread_over_datasets(per_dataset: Mapping[str, Sequence[float]]) -> Spread | None:
    """The spread of the mean over datasets of each dataset's seed mean (``per_dataset``: dataset → its
    seeds' values); None when no dataset has a value."""
    groups = [list(values) for values in per_dataset.values() if values]
    if not groups:
        return None
    mean = statistics.fmean(statistics.fmean(values) for values in groups)
    seeds = tuple(len(values) for values in groups)
    if min(seeds) < 2:
        return Spread(mean, None, None, None, seeds)
    count = len(groups)
    stds = [statistics.stdev(values) for values in groups]  # as mean_std: one dataset's std is the same number
    terms = [s * s / n for s, n in zip(stds, seeds, strict=True)]  # each dataset's squared standard error
    std = stds[0] if count == 1 else math.sqrt(sum(s * s for s in stds)) / count
    if sum(terms) == 0.0:  # every seed gave the same value (zero-shot ignores support)
        return Spread(mean, std, mean, mean, seeds)
    dof = sum(terms) ** 2 / sum(a * a / (n - 1) for a, n in zip(terms, seeds, strict=True))
    half = t_quantile(dof) * math.sqrt(sum(terms)) / count
    return Spread(mean, std, _clip(mean - half), _clip(mean + half), seeds)


def seed_spread(values: Sequence[float]) -> Spread | None:
    """The spread of one dataset's seed values."""
    return spread_over_datasets({"": values})
