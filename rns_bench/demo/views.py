"""What the demo page shows, as HTML and Markdown text (pure functions: no web library needed).

Class names are the visitor's text: every one is escaped before it goes into HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from rns_bench.segment.demo_session import ClassArea, colour_of

SWATCH = '<span style="display:inline-block;width:0.9em;height:0.9em;background:{};border:1px solid #888"></span>'


def swatch(colour: str) -> str:
    return SWATCH.format(escape(colour))


def legend_html(areas: Sequence[ClassArea] | None) -> str:
    """The legend of a segmentation: colour, class, share of the image and pixels, largest first."""
    if not areas:
        return "<p>No segmentation yet: upload an image (or pick an example) and press Segment.</p>"
    rows = "".join(
        f'<tr data-class="{escape(area.name)}"><td>{swatch(area.colour)}</td><td>{area.index}</td>'
        f"<td>{escape(area.name)}</td><td>{100 * area.fraction:.1f} %</td><td>{area.pixels}</td></tr>"
        for area in areas
    )
    head = "<tr><th></th><th>#</th><th>class</th><th>area</th><th>pixels</th></tr>"
    return f'<table id="areas-table"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def classes_html(class_names: Sequence[str], support_counts: Sequence[int]) -> str:
    """The vocabulary: index, colour, name and how many support images mark each class."""
    items = "".join(
        f"<li>{swatch(colour_of(index))} {index} <b>{escape(name)}</b> — "
        f"{f'{count} support image(s)' if count else 'text only'}</li>"
        for index, (name, count) in enumerate(zip(class_names, support_counts, strict=True))
    )
    return f"<p>{len(class_names)} classes</p><ul>{items}</ul>"


def status_text(backbone: str, method: str, note: str) -> str:
    """The status line: what runs, then what the last action did (or why it was refused)."""
    return f"**{method}** on **{backbone}** — {note}"
