"""Every code block of the README and of docs/*.md is run or checked by a test, so neither can drift from the code.

* python blocks run as written (the open-world one in tests/runs/test_readme_segment.py, the library one and the
  add-a-method one here; each python block carries a marker naming it);
* the declared-dataset yaml runs end to end in tests/data/test_declared.py, the segment shell blocks in
  tests/runs/test_readme_segment.py; the Hugging Face yaml is checked here against the declaration rules, the
  add-a-method row is composed and validated here with the method it declares;
* every other shell line is parsed as its command parses it: bench / tuning / features lines are composed and
  validated exactly as the command's preflight does (their datasets and weights are not on this machine, so
  they are not run: each names a real dataset or a cluster), ``make`` lines are dry runs of their target,
  ``rns_bench.data`` and ``rns_bench.demo`` lines go through their argument parsers, ``rns_bench.report`` lines
  name an experiment file and only the options the report reads.
Blocks without a language (tables, folder layouts) are output, not code.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from doc_blocks import ROOT, doc_blocks, marked_block, marked_blocks
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from rns_bench.core.paths import CONFIG_DIR
from rns_bench.methods import METHODS, load_methods
from rns_bench.runs.schema import validate_config

BLOCKS = doc_blocks()
# What each marked block is, by language; a python or yaml block without one of these markers is unchecked.
MARKED = {
    "python": {"rns-library-example", "open-world-example", "add-a-method-example"},
    "yaml": {"declared-dataset-example", "add-a-method-row"},
    "bash": {"segment-example"},
}


def _shell_lines() -> list[str]:
    lines = []
    for block in BLOCKS:
        if block.language != "bash":
            continue
        joined = re.sub(r"\\\n\s*", " ", block.body)
        for line in joined.splitlines():
            line = line.split("  #")[0].split(" # ")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _segment_lines() -> set[str]:
    lines = set()
    for block in marked_blocks("segment-example", "bash"):
        joined = re.sub(r"\\\n\s*", " ", block.body)
        lines |= {" ".join(line.split("  #")[0].split()) for line in joined.splitlines()}
    return lines


SHELL = [line for line in _shell_lines() if " ".join(line.split()) not in _segment_lines()]


def test_every_block_is_known():
    languages = {block.language for block in BLOCKS}
    assert languages <= {"", "bash", "python", "yaml"}, languages
    for block in BLOCKS:
        if block.language == "python" or (block.language == "yaml" and not _is_hugging_face(block.body)):
            assert block.marker in MARKED[block.language], f"{block.where}: an unmarked {block.language} block"
        if block.marker:
            assert block.marker in MARKED.get(block.language, ()), f"{block.where}: unknown marker"
    for language, markers in MARKED.items():
        for marker in markers:
            marked_blocks(marker, language)  # the tests that run those blocks find them by these markers


def _is_hugging_face(body: str) -> bool:
    return "layout: huggingface" in body


def test_the_library_example_runs_as_written():
    block = marked_block("rns-library-example", "python")
    namespace: dict = {}
    exec(compile(block.body, block.where, "exec"), namespace)  # noqa: S102 (the docs' own code)
    assert namespace["probs"].shape == (196, namespace["K"])


def test_the_add_a_method_example_runs_and_its_row_validates(tmp_path):
    block, row = marked_block("add-a-method-example", "python"), marked_block("add-a-method-row", "yaml")
    registered = set(load_methods().names())  # the entry points loaded first: only the example's name is removed
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = compile(block.body, block.where, "exec", dont_inherit=True)  # as a file runs: no future flags
            exec(code, {"__name__": "docs"})  # noqa: S102 (the docs' own code)
        assert printed.getvalue().strip() == "(196, 3)"
        spec = yaml.safe_load(row.body)
        options = ", ".join(f"{k}: {v}" for k, v in spec["options"].items())
        declared = f"+rows.{spec['method']}={{method: {spec['method']}, options: {{{options}}}}}"
        _validate("bench", [declared, f"methods=[zero_shot,{spec['method']}]"], tmp_path)
        assert set(spec["options"]) == set(METHODS.get(spec["method"]).default_options())  # every option listed
    finally:
        for name in set(METHODS.names()) - registered:
            del METHODS._entries[name]


def test_the_hugging_face_declaration_is_valid():
    from rns_bench.data.declared import COMMON, LAYOUT_KEYS, _check_types

    (block,) = [b for b in BLOCKS if b.language == "yaml" and _is_hugging_face(b.body)]
    declaration = yaml.safe_load(block.body)["dataset"]
    assert set(declaration) <= COMMON | set(LAYOUT_KEYS["huggingface"])
    _check_types(declaration, block.where)


def _bench_overrides(arguments: list[str]) -> list[str]:
    """The overrides a job of this command composes: flags and Hydra's own keys dropped, a sweep's first value."""
    overrides = []
    for argument in arguments:
        if argument.startswith("-") or argument.startswith("hydra") or argument == "...":
            continue
        (parsed,) = OverridesParser.create().parse_overrides([argument])
        if parsed.is_sweep_override():
            first = next(iter(parsed.sweep_iterator()))
            argument = f"{parsed.get_key_element()}={_hydra_value(first)}"
        overrides.append(argument)
    return overrides


def _hydra_value(value: object) -> str:
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def _validate(config: str, overrides: list[str], tmp_path: Path) -> None:
    where = [f"results_dir={tmp_path}/results", f"cache_dir={tmp_path}/cache"]
    if config == "bench":
        where += [f"presence_cache_dir={tmp_path}/presence"]
    kept = [o for o in overrides if not o.split("=")[0].endswith(("results_dir", "cache_dir"))]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config, overrides=[*kept, *where])
    validate_config(cfg, kept)


@pytest.mark.parametrize(
    "line", [line for line in SHELL if re.search(r"-m rns_bench\.(bench|tuning|features)\b", line)]
)
def test_each_bench_tuning_and_features_line_composes_and_validates(line, tmp_path):
    words = shlex.split(line)
    module = words[words.index("-m") + 1].rsplit(".", 1)[1]
    arguments = words[words.index("-m") + 2 :]
    if module == "features":
        assert arguments[0] in ("extract", "export", "import")
        own = ("split=", "support_images=", "pack=", "shard_mb=")  # the command's options, not overrides
        arguments = [a for a in arguments[1:] if not a.startswith(own)]
    _validate("tune" if module == "tuning" else "bench", _bench_overrides(arguments), tmp_path)


@pytest.mark.parametrize("line", [line for line in SHELL if line.startswith("make ")])
def test_each_make_line_is_a_target_whose_arguments_compose(line, tmp_path):
    words = shlex.split(line)
    target, variables = words[1], dict(w.split("=", 1) for w in words[2:] if "=" in w)
    subprocess.run(
        ["make", "-n", target, *(f"{k}={v}" for k, v in variables.items())],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    if target in ("bench", "experiment", "plan"):
        overrides = shlex.split(variables.get("ARGS", ""))
        if "BACKBONE" in variables:
            overrides.append(f"backbone={variables['BACKBONE']}")
        if target == "bench":
            overrides.append(f"dataset={variables.get('DATASET', 'toy')}")
        else:
            overrides.append(f"experiment={variables['NAME']}")
            if "DATASETS" in variables:
                overrides.append(f"dataset={variables['DATASETS']}")
        _validate("bench", _bench_overrides(overrides), tmp_path)


@pytest.mark.parametrize("line", [line for line in SHELL if "-m rns_bench.data " in line])
def test_each_data_line_parses(line):
    from rns_bench.cli.data import build_parser

    words = [w.strip("[]") for w in shlex.split(line)]
    build_parser().parse_args(words[words.index("-m") + 2 :])


@pytest.mark.parametrize("line", [line for line in SHELL if "-m rns_bench.report " in line])
def test_each_report_line_names_an_experiment_and_known_options(line):
    from rns_bench.cli.report import DEFAULTS

    words = shlex.split(line)
    name, options = words[words.index("-m") + 2], words[words.index("-m") + 3 :]
    assert (CONFIG_DIR / "experiment" / f"{name}.yaml").is_file(), name
    assert {o.split("=", 1)[0] for o in options} <= set(DEFAULTS), options


@pytest.mark.parametrize("line", [line for line in SHELL if "-m rns_bench.demo" in line])
def test_each_demo_line_parses(line):
    pytest.importorskip("gradio", reason="the demo extra is not installed")
    from rns_bench.demo.app import build_parser

    words = shlex.split(line)
    build_parser().parse_args(words[words.index("-m") + 2 :])


@pytest.mark.parametrize("line", [line for line in SHELL if line.startswith("hf upload ")])
def test_each_hub_upload_line_uses_options_the_hub_cli_has(line):
    """``hf`` is huggingface_hub's CLI (a dependency): each option a docs line gives is one it documents."""
    hf = Path(sys.executable).parent / "hf"
    usage = subprocess.run([str(hf), "upload", "--help"], capture_output=True, text=True, check=True).stdout
    assert all(word in usage for word in shlex.split(line) if word.startswith("--")), line


def test_every_shell_line_is_checked():
    checked = re.compile(r"-m rns_bench\.(bench|tuning|features|data|report|demo)\b|^make |^hf upload ")
    assert [line for line in SHELL if not checked.search(line)] == []
