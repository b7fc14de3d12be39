"""``python -m rns_bench.demo``: open-world segmentation in the browser (Gradio).

    python -m rns_bench.demo [--host 127.0.0.1] [--port 7860] [--backbone toy_vlm] [--method rns] \\
        [--support FOLDER] [--cache-dir .cache/features] [--out .tmp/demo]

Pick a backbone and an open-vocabulary method, name classes, paint their masks on support pictures in the
browser, add or remove a class or a support image and see the segmentation change at once, segment your
images (overlay, legend, share of the image per class) and export the support set as the ``segment``
command's folder. With no ``--support`` it starts on the toy example (toy world, ``toy_vlm``, the
example's support preloaded: no weights needed); ``--support`` takes a ``segment`` support folder. The
server listens on ``--host`` only (default this machine) and never opens a public share link. Outputs go
under ``--out``, one folder per browser session (``visit-<id>/segmented/``: labels/, overlays/,
classes.txt as the segment command writes them; ``visit-<id>/support-<n>/``: exports).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import gradio as gr
import numpy as np

from rns_bench.core.errors import RNSBenchError
from rns_bench.demo import handlers
from rns_bench.segment.demo_session import DemoSession, read_support_folder, toy_example
from rns_bench.segment.segmenter import backbone_names, open_vocabulary_methods

DEFAULT_BACKBONE = "toy_vlm"
DEFAULT_METHOD = "rns"
INTRO = (
    "# Open-world segmentation\n"
    "Name a class, paint it on a support picture (brush in the editor), press **Add class**; the image on "
    "the right is segmented again after every change. Support is data, not weights: adding a class costs "
    "its name's text feature and its pictures' features, nothing else."
)


@dataclass
class DemoSetup:
    """What a new browser session starts with."""

    backbone: str
    method: str
    class_names: list[str]
    support: list[tuple[str, np.ndarray, np.ndarray]]
    examples: list[Path] = field(default_factory=list)
    cache_dir: Path | None = None
    out: Path = Path(".tmp/demo")

    def new_session(self) -> DemoSession:
        return DemoSession.start(self.backbone, self.method, self.class_names, self.support, self.cache_dir)


@dataclass
class Controls:
    """The page's inputs and buttons."""

    backbone: gr.Dropdown
    method: gr.Dropdown
    switch: gr.Button
    editor: gr.ImageEditor
    name: gr.Textbox
    add: gr.Button
    add_support: gr.Button
    remove_class: gr.Button
    load: gr.Button
    remove_support: gr.Button
    export: gr.Button
    export_file: gr.File
    query: gr.Image
    segment: gr.Button


@dataclass
class View:
    """What every handler redraws, in the order of ``handlers.view``."""

    state: gr.State
    status: gr.Markdown
    classes: gr.HTML
    class_pick: gr.Dropdown
    support_pick: gr.Dropdown
    overlay: gr.Image
    legend: gr.HTML
    files: gr.File

    def outputs(self) -> list:
        return [getattr(self, f.name) for f in fields(self)]


def prepare(args: argparse.Namespace) -> DemoSetup:
    """The setup from the command line, one session built to check it (a backbone whose weights are missing
    fails here, in one line, before the server starts)."""
    args.out.mkdir(parents=True, exist_ok=True)
    if args.support is None:
        names, support, examples = toy_example(args.out / "toy-example")
    else:
        (names, support), examples = read_support_folder(args.support), []
    setup = DemoSetup(args.backbone, args.method, names, support, examples, args.cache_dir, args.out)
    setup.new_session()
    return setup


def build_app(setup: DemoSetup) -> gr.Blocks:
    with gr.Blocks(title="rns-bench: open-world segmentation") as demo:
        gr.Markdown(INTRO)
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            backbone = gr.Dropdown(_first(backbone_names(), setup.backbone), value=setup.backbone, label="Backbone")
            method = gr.Dropdown(_first(open_vocabulary_methods(), setup.method), value=setup.method, label="Method")
            switch = gr.Button("Use this backbone and method", elem_id="switch")
        with gr.Row():
            with gr.Column():
                support, (classes, class_pick, support_pick) = _support_column(setup)
            with gr.Column():
                query, segment, (overlay, legend, files) = _segment_column(setup)
        controls = Controls(backbone, method, switch, *support, query, segment)
        view = View(gr.State(None), status, classes, class_pick, support_pick, overlay, legend, files)
        _wire(demo, setup, controls, view)
    return demo


def _support_column(setup: DemoSetup) -> tuple[tuple, tuple]:
    """(editor, name, add, add_support, remove_class, load, remove_support, export, export_file) and
    (classes, class_pick, support_pick)."""
    gr.Markdown("## Classes and support")
    classes = gr.HTML(elem_id="classes")
    first = setup.support[0][1] if setup.support else None
    editor = gr.ImageEditor(
        value=handlers.cleared_editor(first) if first is not None else None,
        type="numpy",
        image_mode="RGBA",  # the layers' alpha is what was painted
        format="png",  # lossless: the picture keeps its pixels (and its cache key)
        transforms=(),  # no crop or resize: the mask must sit on the picture pixel for pixel
        layers=False,
        sources=("upload", "clipboard"),
        brush=gr.Brush(colors=["#ff0000"], color_mode="fixed"),
        label="Support picture: paint the object",
        elem_id="editor",
    )
    with gr.Row():
        name = gr.Textbox(label="New class name", placeholder="e.g. my cat", elem_id="class-name")
        add = gr.Button("Add class", variant="primary", elem_id="add-class")
    with gr.Row():
        class_pick = gr.Dropdown(label="Class", elem_id="class-pick")
        add_support = gr.Button("Add painted support to this class", elem_id="add-support")
        remove_class = gr.Button("Remove class", elem_id="remove-class")
    with gr.Row():
        support_pick = gr.Dropdown(label="Support image", elem_id="support-pick")
        load = gr.Button("Load into the editor", elem_id="load-support")
        remove_support = gr.Button("Remove support image", elem_id="remove-support")
    export = gr.Button("Export the support set (the segment command's folder)", elem_id="export")
    export_file = gr.File(label="Exported support (zip)", interactive=False, elem_id="export-file")
    controls = (editor, name, add, add_support, remove_class, load, remove_support, export, export_file)
    return controls, (classes, class_pick, support_pick)


def _segment_column(setup: DemoSetup) -> tuple[gr.Image, gr.Button, tuple]:
    gr.Markdown("## Segment an image")
    example = str(setup.examples[0]) if setup.examples else None
    query = gr.Image(type="filepath", value=example, sources=("upload", "clipboard"), label="Image", elem_id="query")
    if setup.examples:
        gr.Examples([[str(path)] for path in setup.examples], inputs=query, label="Toy scenes")
    segment = gr.Button("Segment", variant="primary", elem_id="segment")
    overlay = gr.Image(format="png", interactive=False, label="Segmentation", elem_id="overlay")
    legend = gr.HTML(elem_id="legend")
    files = gr.File(label="Label PNG, overlay, classes.txt", file_count="multiple", interactive=False, elem_id="files")
    return query, segment, (overlay, legend, files)


def _wire(demo: gr.Blocks, setup: DemoSetup, c: Controls, view: View) -> None:
    shown, state, example = view.outputs(), view.state, (setup.examples[0] if setup.examples else None)
    demo.load(
        lambda: handlers.start_visit(setup.new_session, setup.out / f"visit-{uuid.uuid4().hex[:8]}", example),
        outputs=shown,
    )
    c.switch.click(handlers.switch, [state, c.backbone, c.method], shown)
    for button, handler, inputs in (
        (c.add, handlers.add_class, [state, c.name, c.editor]),
        (c.add_support, handlers.add_support, [state, view.class_pick, c.editor]),
        (c.load, handlers.load_support, [state, view.support_pick]),
    ):  # the editor's new picture in a follow-up event (handlers.refresh_editor says why)
        button.click(handler, inputs, shown).then(handlers.refresh_editor, [state], c.editor, show_progress="hidden")
    c.remove_class.click(handlers.remove_class, [state, view.class_pick], shown)
    c.remove_support.click(handlers.remove_support, [state, view.support_pick], shown)
    c.export.click(handlers.export, [state], [*shown, c.export_file])
    c.segment.click(handlers.segment, [state, c.query], shown)


def _first(names: list[str], first: str) -> list[str]:
    return [first, *(name for name in names if name != first)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rns_bench.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="configs/backbone/<name>.yaml (default toy_vlm)")
    parser.add_argument("--method", default=DEFAULT_METHOD, help="an open-vocabulary method (default rns)")
    parser.add_argument("--support", type=Path, help="a segment support folder (default: the toy example)")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(".cache/features"), help="feature cache (default .cache/features)"
    )
    parser.add_argument("--out", type=Path, default=Path(".tmp/demo"), help="outputs (default .tmp/demo)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        setup = prepare(args)
    except RNSBenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    build_app(setup).queue().launch(
        server_name=args.host, server_port=args.port, share=False, allowed_paths=[str(args.out.resolve())]
    )
    return 0
