"""What the demo page's buttons do: each handler takes the visitor's :class:`Visit` and the inputs, and
returns the page's view (:func:`view`: :data:`VIEW_SIZE` outputs), the export also its archive.

Every change to the classes or the support set segments the last image again at once. A refusal (an
:class:`RNSBenchError`: a duplicate name, an empty mask, missing weights ...) is a warning toast and the
status line; anything else is reported the same way with its traceback on the server's console, so the
page never shows a traceback.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from rns_bench.core.errors import InputError, RNSBenchError
from rns_bench.data.readers.label_reader import decode_image
from rns_bench.demo.views import classes_html, legend_html, status_text
from rns_bench.segment.demo_session import DemoSession, Segmentation, zip_folder
from rns_bench.segment.painting import new_class_name, painted_support

# The page's view, in this order: state, status, classes, class picker, support picker, overlay, legend, files.
VIEW_SIZE = 8


@dataclass
class Visit:
    """One browser session: its classes and support, and the folder its outputs go to."""

    session: DemoSession
    folder: Path  # segmented/ (labels/, overlays/, classes.txt) and support-<n>/ exports
    exports: int = 0
    editor_next: np.ndarray | None = None  # the picture to show unpainted in the editor next (refresh_editor)


def guarded(extra: int = 0) -> Callable[[Callable[..., tuple]], Callable[..., tuple]]:
    """A handler whose refusals become a warning and the status line (module doc); ``extra``: how many
    outputs it has beyond the view."""

    def wrap(handler: Callable[..., tuple]) -> Callable[..., tuple]:
        @functools.wraps(handler)
        def run(visit: Visit | None, *args: Any) -> tuple:
            try:
                if visit is None:
                    raise InputError("the page is still starting: wait a moment and try again")
                return handler(visit, *args)
            except RNSBenchError as error:
                return refused(visit, str(error), extra)
            except Exception as error:  # the page says what failed; the console keeps the traceback
                traceback.print_exc()
                return refused(visit, f"unexpected {type(error).__name__}: {error} (see the server's console)", extra)

        return run

    return wrap


def refused(visit: Visit | None, message: str, extra: int = 0) -> tuple:
    gr.Warning(message)
    status = f"**Refused:** {message}"
    if visit is not None:
        status = status_text(visit.session.backbone, visit.session.method, status)
    return (gr.skip(), status, *[gr.skip()] * (VIEW_SIZE - 2 + extra))


def view(
    visit: Visit,
    note: str,
    segmentation: Segmentation | None = None,
    files: list[Path] | None = None,
    *,
    keep_result: bool = False,
) -> tuple:
    """The page's view of ``visit`` after an action that says ``note``; ``keep_result``: the segmentation
    shown stays as it is (nothing it depends on changed)."""
    session = visit.session
    names, supports = session.class_names, session.support_names
    result = (
        (gr.skip(),) * 3
        if keep_result
        else (
            None if segmentation is None else segmentation.overlay,
            legend_html(None if segmentation is None else segmentation.areas),
            None if files is None else [str(path) for path in files],
        )
    )
    return (
        visit,
        status_text(session.backbone, session.method, note),
        classes_html(names, session.support_counts()),
        gr.update(choices=names, value=names[-1]),
        gr.update(choices=supports, value=supports[-1] if supports else None),
        *result,
    )


def changed(visit: Visit, note: str) -> tuple:
    """The view after the classes or support changed: the last image segmented again at once."""
    try:
        segmentation = visit.session.resegment()
    except RNSBenchError as error:  # the change stands; only the picture cannot follow it
        gr.Warning(str(error))
        return view(visit, f"{note}; the image cannot be segmented now: {error}")
    files = None if segmentation is None else visit.session.write(visit.folder / "segmented", segmentation)
    return view(visit, note, segmentation, files)


def cleared_editor(image: Any) -> dict:
    """The editor holding ``image`` with nothing painted on it."""
    return {"background": image, "layers": [], "composite": None}


def refresh_editor(visit: Visit | None) -> Any:
    """The editor's next value, set apart from the action that chose it: Gradio 6 leaves an ImageEditor
    that was painted on under a "processing" overlay when an event with a progress display sets its
    value, so this runs as a follow-up event without one (``show_progress="hidden"``)."""
    if visit is None or visit.editor_next is None:
        return gr.skip()
    image, visit.editor_next = visit.editor_next, None
    return cleared_editor(image)


def start_visit(factory: Callable[[], DemoSession], folder: Path, example: Path | None) -> tuple:
    """A new visitor's session (``factory``), with the example image segmented when there is one."""
    visit = Visit(factory(), folder)
    if example is None:
        return view(visit, "ready: name a class, paint it on a support image, then segment an image")
    return segment(visit, str(example))


@guarded()
def switch(visit: Visit, backbone: str, method: str) -> tuple:
    visit.session = visit.session.switched(backbone, method)
    return changed(visit, f"now {method} on {backbone}, with the same classes and support")


@guarded()
def add_class(visit: Visit, name: str, editor: dict | None) -> tuple:
    new_class_name(name, visit.session.class_names)  # a taken name is said first, whatever was painted
    painted = None if editor is None or editor.get("background") is None else painted_support(editor)
    note = visit.session.add_class(name, painted)
    visit.editor_next = None if painted is None else painted[0]
    return changed(visit, note)


@guarded()
def add_support(visit: Visit, class_name: str | None, editor: dict | None) -> tuple:
    if not class_name:
        raise InputError("pick the class the painted pixels show")
    image, mask = painted_support(editor)
    note = visit.session.add_support(class_name, image, mask)
    visit.editor_next = image
    return changed(visit, note)


@guarded()
def remove_class(visit: Visit, class_name: str | None) -> tuple:
    if not class_name:
        raise InputError("pick the class to remove")
    return changed(visit, visit.session.remove_class(class_name))


@guarded()
def remove_support(visit: Visit, support_name: str | None) -> tuple:
    if not support_name:
        raise InputError("pick the support image to remove")
    return changed(visit, visit.session.remove_support(support_name))


@guarded()
def load_support(visit: Visit, support_name: str | None) -> tuple:
    if not support_name:
        raise InputError("pick a support image to load into the editor")
    visit.editor_next = visit.session.entry(support_name).image
    return view(visit, f"support image {support_name!r} is in the editor: paint a class on it", keep_result=True)


@guarded()
def segment(visit: Visit, path: str | None) -> tuple:
    if not path:
        raise InputError("upload an image to segment first (or pick an example)")
    image = decode_image(Path(path))  # as the segment command decodes (OpenCV, EXIF orientation applied)
    segmentation = visit.session.segment(image, Path(path).stem)
    files = visit.session.write(visit.folder / "segmented", segmentation)
    areas = ", ".join(f"{a.name} {100 * a.fraction:.1f} %" for a in segmentation.areas[:4])
    return view(visit, f"segmented {Path(path).name}: {areas}", segmentation, files)


@guarded(extra=1)
def export(visit: Visit) -> tuple:
    visit.exports += 1
    folder = visit.session.export(visit.folder / f"support-{visit.exports}")
    archive = zip_folder(folder)
    note = (
        f"support set exported to {folder} (and {archive.name}): "
        f"`python -m rns_bench.segment --support {folder} --images IMAGES --out OUT`"
    )
    return (*view(visit, note, keep_result=True), str(archive))
