"""The demo's command line and its refusals before a server starts; a backbone whose weights are missing is a
line in the page (the docs' demo lines parse: tests/test_readme_blocks.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rns_bench.segment.demo_session import DemoSession
from rns_bench.toy.world import ToyWorld

pytest.importorskip("gradio")
app = pytest.importorskip("rns_bench.demo.app")
handlers = pytest.importorskip("rns_bench.demo.handlers")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:gradio.helpers")  # gr.Warning off a page


def test_the_defaults_serve_the_toy_example_on_this_machine_only():
    defaults = app.build_parser().parse_args([])
    assert (defaults.host, defaults.port, defaults.backbone, defaults.method) == ("127.0.0.1", 7860, "toy_vlm", "rns")
    assert defaults.support is None and "--share" not in app.build_parser().format_help()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--support", "no/such/folder"], "support folder not found"), (["--backbone", "nope"], "no backbone config")],
)
def test_bad_arguments_are_one_line_before_any_server(arguments, message, tmp_path, capsys):
    assert app.main([*arguments, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error


def test_a_backbone_without_its_weights_is_a_line_in_the_page_and_the_session_stays(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    world = ToyWorld(0)
    image, truth = world.render(np.random.default_rng(0), "train", required_class=world.class_index("dog"))
    support = [("scene", image, np.where(truth == world.class_index("dog"), 1, 255))]
    visit = handlers.Visit(DemoSession.start("toy_vlm", "rns", ["background", "dog"], support), tmp_path)
    shown = handlers.switch(visit, "clip_b16", "rns")
    assert "**Refused:** clip_b16: the open_clip weights" in shown[1] and "not in the Hugging Face cache" in shown[1]
    assert visit.session.backbone == "toy_vlm"
