"""Which bank rows enter the per-image training set (rns spec §3.1 and the §8 variants)."""

from __future__ import annotations

import torch

# Queries are scored against the bank in chunks so an (N, R) similarity matrix never has to
# exist whole (ADE at B = 20 has tens of thousands of rows).
_QUERY_CHUNK = 4096


def nearest_rows(queries: torch.Tensor, bank: torch.Tensor, k: int, largest: bool = True) -> torch.Tensor:
    """(N, D) queries, (R, D) bank → (N, min(k, R)) row indices by inner product (exact search).

    ``largest=False`` returns the least similar rows instead.
    """
    k = min(k, bank.shape[0])
    chunks = [torch.topk(chunk @ bank.T, k, dim=1, largest=largest).indices for chunk in queries.split(_QUERY_CHUNK)]
    return torch.cat(chunks)


def retrieve_rows(
    queries: torch.Tensor,
    bank_features: torch.Tensor,
    bank_labels: torch.Tensor,
    k: int,
    variant: str,
    generator: torch.Generator,
) -> torch.Tensor:
    """Sorted distinct bank row indices forming the retrieved set U for one image."""
    knn_union = torch.unique(nearest_rows(queries, bank_features, k))
    if variant == "knn":
        return knn_union
    size = len(knn_union)
    if variant == "random":
        return _random_subset(torch.arange(len(bank_labels)), size, generator)
    class_rows = torch.nonzero(torch.isin(bank_labels, torch.unique(bank_labels[knn_union]))).squeeze(1)
    if variant == "class_rows":
        return class_rows
    if variant == "random_class_rows":
        return _random_subset(class_rows, size, generator)
    if variant == "furthest_class_rows":
        furthest = nearest_rows(queries, bank_features[class_rows], k, largest=False)
        return class_rows[torch.unique(furthest)]
    raise ValueError(f"unknown retrieval variant {variant!r}")  # RNSConfig validates earlier


def _random_subset(rows: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    order = torch.randperm(len(rows), generator=generator)[:size]
    return torch.sort(rows[order]).values
