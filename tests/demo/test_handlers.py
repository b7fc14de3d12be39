"""The demo page's handlers without a browser: a refusal is the status line (never an exception), a change
that leaves nothing to segment with still stands, and the views escape the visitor's text."""

from __future__ import annotations

import numpy as np
import pytest

from rns_bench.demo.views import classes_html, legend_html
from rns_bench.segment.demo_session import ClassArea, DemoSession
from rns_bench.toy.world import ToyWorld

gr = pytest.importorskip("gradio")
handlers = pytest.importorskip("rns_bench.demo.handlers")

STATUS, OVERLAY, FILES = 1, 5, 7
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:gradio.helpers")  # gr.Warning off a page


@pytest.fixture
def visit(tmp_path):
    world, rng = ToyWorld(0), np.random.default_rng(1)
    image, truth = world.render(rng, "train", required_class=world.class_index("dog"))
    label = np.where(truth == world.class_index("dog"), 1, 255).astype(np.uint8)
    session = DemoSession.start("toy_vlm", "rns", ["background", "dog"], [("scene", image, label)])
    session.segment(image, "scene")
    return handlers.Visit(session, tmp_path)


def test_a_duplicate_class_is_refused_in_the_status_line_and_a_warning_and_changes_nothing(visit):
    painted_nothing = {"background": visit.session.last_image[1], "layers": []}  # the name is said first
    with pytest.warns(UserWarning, match="class 'dog' is already in the vocabulary"):  # gr.Warning, off a page
        shown = handlers.add_class(visit, "dog", painted_nothing)
    assert "**Refused:** class 'dog' is already in the vocabulary" in shown[STATUS]
    assert len(shown) == handlers.VIEW_SIZE and visit.session.class_names == ["background", "dog"]


def test_an_empty_mask_is_refused_and_a_visit_not_started_yet_too(visit):
    image = visit.session.last_image[1]
    shown = handlers.add_support(visit, "dog", {"background": image, "layers": []})
    assert "the mask is empty" in shown[STATUS]
    assert "still starting" in handlers.remove_class(None, "dog")[STATUS]


def test_a_change_is_segmented_again_and_written_and_removing_the_last_support_still_stands(visit):
    shown = handlers.add_class(visit, "cat", None)
    assert "added class 'cat'" in shown[STATUS] and shown[OVERLAY].shape[2] == 3
    labels = [path for path in shown[FILES] if "labels" in path]
    assert labels and (visit.folder / "segmented" / "labels" / "scene.png").is_file()
    shown = handlers.remove_support(visit, "scene")
    assert "removed support image 'scene'" in shown[STATUS] and "cannot be segmented now" in shown[STATUS]
    assert visit.session.support_names == []


def test_the_editor_gets_the_picture_back_unpainted_once(visit):
    handlers.load_support(visit, "scene")
    value = handlers.refresh_editor(visit)
    assert value["layers"] == [] and np.array_equal(value["background"], visit.session.entry("scene").image)
    assert isinstance(handlers.refresh_editor(visit), type(gr.skip()))


def test_views_escape_class_names():
    area = ClassArea(0, "<b>x</b>", "#000000", 3, 0.5)
    assert "&lt;b&gt;x&lt;/b&gt;" in legend_html([area]) and "<b>x</b>" not in legend_html([area])
    assert "50.0 %" in legend_html([area])
    assert "&lt;i&gt;" in classes_html(["<i>"], [0]) and "text only" in classes_html(["<i>"], [0])
