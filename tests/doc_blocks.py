"""The code blocks of the README and of the documentation site (docs/*.md), for the tests that run or check them.

A block may be marked by an HTML comment right above it (``<!-- segment-example: ... -->``); the tests that
run a block find it by its marker.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?:<!-- ([\w-]+)\b[^>]*-->\s*)?```(\w*)\n(.*?)```", re.S)


class Block(NamedTuple):
    path: Path
    marker: str  # the marker comment right above it, "" when none
    language: str  # "" for output (tables, folder layouts)
    body: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}" + (f" ({self.marker})" if self.marker else "")


def doc_blocks() -> list[Block]:
    """Every fenced block of the README and of docs/*.md, in file order."""
    return [
        Block(path, marker or "", language, body)
        for path in DOC_FILES
        for marker, language, body in _BLOCK.findall(path.read_text(encoding="utf-8"))
    ]


def marked_blocks(marker: str, language: str) -> list[Block]:
    """The blocks marked ``<!-- marker ... -->`` (at least one: a test must not pass on a lost block)."""
    found = [b for b in doc_blocks() if b.marker == marker and b.language == language]
    assert found, f"the docs lost their {marker} block"
    return found


def marked_block(marker: str, language: str) -> Block:
    """The one block marked ``<!-- marker ... -->``."""
    (block,) = marked_blocks(marker, language)
    return block
