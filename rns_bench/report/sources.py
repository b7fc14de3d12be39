"""Where each published number comes from, as the reports show it: a footnote per source (the paper, its
table and row, and the paper it quotes where the number is not its own), Table 3's harmonic mean H of
S and U derived from the paper's own S and U, and which published value a sweep's leaderboard cell gets."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace

from rns_bench.report.declared import parse_protocol_folder
from rns_bench.report.published import PublishedValue, published_values

SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
HARMONIC = "H"  # the subset of Table 3 the paper does not print: 2·S·U / (S + U)


def source_text(value: PublishedValue) -> str:
    """``RNS paper Table 5: “RNS (K=1)”`` (+ the quoted paper, how a derived value is computed, an unstated B)."""
    text = f"{value.paper} {value.source}: “{value.row}”"
    if value.quoted_from:
        text += f", quoted from {value.quoted_from}"
    if value.derived:
        text += f" ({value.derived})"
    return text


class Footnotes:
    """Numbers each distinct source once, in the order a report first shows it."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def number(self, text: str | None) -> int | None:
        if text is None:
            return None
        if text not in self.texts:
            self.texts.append(text)
        return self.texts.index(text) + 1

    def marker(self, text: str | None) -> str:
        """The markdown marker (``¹``) of ``text``'s footnote; nothing for no source."""
        number = self.number(text)
        return "" if number is None else str(number).translate(SUPERSCRIPTS)

    def markdown(self, heading: str = "Published values") -> list[str]:
        if not self.texts:
            return []
        lines = ["", f"{heading}:", ""]
        return lines + [f"{str(i).translate(SUPERSCRIPTS)} {text}  " for i, text in enumerate(self.texts, 1)]


def harmonic_mean(s: float | None, u: float | None) -> float | None:
    """H of S and U (0 when either is 0); None when either is missing."""
    if s is None or u is None:
        return None
    return statistics.harmonic_mean([s, u]) if s > 0 and u > 0 else 0.0


def with_harmonic(values: list[PublishedValue]) -> list[PublishedValue]:
    """``values`` and, for each resolved S and U pair of one table cell, its H (derived, marked so)."""
    derived = []
    for s in values:
        if s.subset != "S" or not s.resolved:
            continue
        u = next((v for v in values if v.subset == "U" and _same_cell(v, s)), None)
        if u is not None and u.resolved:
            value = harmonic_mean(s.value, u.value)
            derived.append(replace(s, subset=HARMONIC, value=value, derived="H = 2SU/(S + U) of its S and U"))
    return values + derived


def _same_cell(a: PublishedValue, b: PublishedValue) -> bool:
    keys = ("table", "method_row", "dataset", "backbone", "granularity", "shots", "unseen_fraction")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def leaderboard_lookup(dataset: str, backbone: str, folder: str) -> Callable[[str, int, str], PublishedValue | None]:
    """(method row, B, subset) → the paper's value of that cell of a sweep on ``dataset`` / ``backbone`` in
    results folder ``folder``, or None. The paper's per-dataset numbers are Table 3 (partial visual
    support, S / U / A) and Table 4 (region mode): a value whose backbone or granularity the paper does
    not state is taken as any, one without a B (zero-shot; Table 3, whose caption does not give it) at
    every B, and the footnote says so."""
    protocol = parse_protocol_folder(folder)
    if protocol is None or protocol.support_dataset or protocol.text_drop_fraction:
        return lambda row, shots, subset: None
    granularity = f"region-{protocol.proposer}" if protocol.proposer else "patch"
    candidates = [
        v
        for v in with_harmonic(published_values())
        if v.dataset == dataset
        and v.resolved
        and v.backbone in ("unstated", backbone)
        and v.granularity in ("unstated", granularity)
        and abs(v.unseen_fraction - protocol.visual_drop_fraction) <= 1e-9
    ]

    def find(row: str, shots: int, subset: str) -> PublishedValue | None:
        for value in candidates:
            if value.method_row == row and value.subset == subset and value.shots in (None, shots):
                return value if value.shots is not None else replace(value, derived=value.derived or "no B stated")
        return None

    return find
