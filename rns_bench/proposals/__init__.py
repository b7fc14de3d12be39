"""Region proposers by registry name (``sam2``, ``felzenszwalb``, ``slic``), their on-disk
cache and region pooling (rns spec §6; features.md "Region proposals").

Heavy libraries (sam2, scikit-image) are imported only when a proposer that needs them is
built, so ``import rns_bench.proposals`` stays cheap and works without them.
"""

from __future__ import annotations

import inspect

from rns_bench.core.errors import ConfigError

# Registrants (they import sam2 / scikit-image only when a proposer is built).
from rns_bench.proposals import sam2_proposer, superpixels  # noqa: F401
from rns_bench.proposals.base import Proposer, is_complete_region_map, masks_to_region_map, relabel_contiguous
from rns_bench.proposals.registry import PROPOSERS


def build_proposer(name: str, **options) -> Proposer:
    """Build a registered proposer; ``options`` are its constructor arguments
    (``configs/proposer/<name>.yaml``). An unknown name lists the valid ones."""
    proposer_cls = PROPOSERS.get(name)
    parameters = inspect.signature(proposer_cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(options) - set(parameters))
        if unknown:
            raise ConfigError(
                f"proposer {name!r} has no option(s) {', '.join(unknown)}; valid options: {', '.join(parameters)}"
            )
    return proposer_cls(**options)


__all__ = [
    "PROPOSERS",
    "Proposer",
    "build_proposer",
    "is_complete_region_map",
    "masks_to_region_map",
    "relabel_contiguous",
]
