"""The demo in a real browser: ``python -m rns_bench.demo`` in a subprocess, driven by Selenium through the
system's chromium and chromedriver (no browser download). A visitor uploads a picture into the editor,
paints a new class on it with the mouse, adds the class and sees the segmentation change at once; the page's
area table and the label PNG the server wrote agree on the new class's pixels; the exported support set reads
back with the new class; a taken class name is a message in the page. A screenshot is kept under
.tmp/test-artifacts/.

Skipped where chromium or chromedriver is not installed (``apt-get install -y chromium chromium-driver``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rns_bench.segment.folders import find_support

REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = REPO / ".tmp" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
NEW_CLASS = "my cat"  # toy_vlm reads toy class names and "my <class>" only

NO_BROWSER = "no chromium / chromedriver on PATH (Debian: apt-get install -y chromium chromium-driver)"
if not (CHROMIUM and CHROMEDRIVER) and os.environ.get("RNS_BENCH_REQUIRE_BROWSER"):  # .ci/run installs one
    raise RuntimeError(f"RNS_BENCH_REQUIRE_BROWSER is set but there is {NO_BROWSER}")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=NO_BROWSER)
pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT = 60  # seconds for one step on a busy CI machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the demo did not answer on {url} within 180 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out, port = tmp_path_factory.mktemp("demo"), str(_free_port())
    url, log = f"http://127.0.0.1:{port}/", out / "server.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "rns_bench.demo", "--port", port, "--out", str(out)]
    command += ["--cache-dir", str(out / "cache")]
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for_server(url, process, log)
        yield url, out
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(argument)  # --no-sandbox: CI runs as root
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _status(driver) -> str:
    found = driver.find_elements(By.ID, "status")
    return found[0].text if found else ""


def _wait_status(driver, text: str) -> str:
    WebDriverWait(driver, WAIT).until(lambda d: text in _status(d), message=f"status never said {text!r}")
    return _status(driver)


def _paint_stroke(driver, editor) -> None:
    """Select the brush and drag it across the picture, near the canvas centre (where the picture sits)."""
    editor.find_element(By.CSS_SELECTOR, "button[aria-label='Brush']").click()
    canvas = editor.find_element(By.TAG_NAME, "canvas")
    stroke = ActionChains(driver).move_to_element_with_offset(canvas, -40, -60).click_and_hold()
    for _ in range(10):
        stroke.move_by_offset(8, 4)
    stroke.release().perform()


def _type_class(driver, name: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, "#class-name textarea, #class-name input")
    box.clear()
    box.send_keys(name)
    driver.find_element(By.ID, "add-class").click()


def _area_pixels(driver, name: str) -> int:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#areas-table tr[data-class='{name}'] td")
    return int(rows[-1].text) if rows else 0


@pytest.mark.early
def test_painting_a_new_class_in_the_browser_changes_the_segmentation(server, browser):
    url, out = server
    scene = out / "toy-example" / "images" / "scene_0.jpg"
    browser.get(url)
    assert "segmented scene_0.jpg" in _wait_status(browser, "segmented scene_0.jpg")  # the toy example, preloaded
    assert "Open-world segmentation" in browser.find_element(By.TAG_NAME, "body").text
    assert _area_pixels(browser, NEW_CLASS) == 0

    editor = browser.find_element(By.ID, "editor")
    editor.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(scene))  # the picture to paint on
    WebDriverWait(browser, WAIT).until(lambda d: editor.find_elements(By.TAG_NAME, "canvas"))
    time.sleep(1)  # the editor draws the uploaded picture on its canvas
    _paint_stroke(browser, editor)
    _type_class(browser, NEW_CLASS)
    status = _wait_status(browser, f"added class '{NEW_CLASS}'")
    assert "painted on a new support image" in status and "the text encoder ran for 1 new name(s)" in status
    WebDriverWait(browser, WAIT).until(lambda d: _area_pixels(d, NEW_CLASS) > 0, message="no new class in the table")

    (legend,) = out.glob("visit-*/segmented/classes.txt")
    index = [line.split("\t")[1] for line in legend.read_text().splitlines()].index(NEW_CLASS)
    label = np.array(Image.open(legend.parent / "labels" / "scene_0.png"))
    assert int((label == index).sum()) == _area_pixels(browser, NEW_CLASS)  # the file and the page agree

    browser.find_element(By.ID, "export").click()  # the support set as the segment command's folder
    _wait_status(browser, "support set exported to")
    (exported,) = out.glob("visit-*/support-1")
    support = find_support(exported, [])
    assert support.class_names[-1] == NEW_CLASS and len(support.items) == 33  # the example's 32 + the painted one

    _type_class(browser, "cat")
    assert "class 'cat' is already in the vocabulary" in _wait_status(browser, "Refused")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "demo-browser.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
