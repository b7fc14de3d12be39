"""Every code block of the README is run or checked by a test, so the README cannot drift from the code.

* python blocks run as written (the open-world one in tests/runs/test_readme_segment.py, the library one here);
* the declared-dataset yaml runs end to end in tests/data/test_declared.py, the segment shell block in
  tests/runs/test_readme_segment.py; the Hugging Face yaml is checked here against the declaration rules;
* every other shell line is parsed as its command parses it: bench / tuning / features lines are composed and
  validated exactly as the command's preflight does (their datasets and weights are not on this machine, so
  they are not run: each names a real dataset or a cluster), ``make`` lines are dry runs of their target,
  ``rns_bench.data`` lines go through its argument parser, ``rns_bench.report`` lines name an experiment file
  and only the options the report reads.
Blocks without a language (tables, folder layouts) are output, not code.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from rns_bench.core.paths import CONFIG_DIR
from rns_bench.runs.schema import validate_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, re.S)
CHECKED_ELSEWHERE = ("<!-- declared-dataset-example", "<!-- open-world-example", "<!-- segment-example")


def _shell_lines() -> list[str]:
    lines = []
    for language, body in BLOCKS:
        if language != "bash":
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.split("  #")[0].split(" # ")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _segment_lines() -> set[str]:
    block = README.split("<!-- segment-example", 1)[1].split("```", 2)[1]
    joined = re.sub(r"\\\n\s*", " ", block)
    return {" ".join(line.split("  #")[0].split()) for line in joined.splitlines()}


SHELL = [line for line in _shell_lines() if " ".join(line.split()) not in _segment_lines()]


def test_every_block_is_known():
    languages = {language for language, _ in BLOCKS}
    assert languages <= {"", "bash", "python", "yaml"}, languages
    for marker in CHECKED_ELSEWHERE:
        assert marker in README, marker  # the tests that run those blocks find them by these markers


def test_the_library_example_runs_as_written():
    block = README.split("<!-- rns-library-example -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(block, "README.md (RNS as a library)", "exec"), namespace)  # noqa: S102 (the README's own code)
    assert namespace["probs"].shape == (196, namespace["K"])


def test_the_hugging_face_declaration_is_valid():
    from rns_bench.data.declared import COMMON, LAYOUT_KEYS, _check_types

    (block,) = [body for language, body in BLOCKS if language == "yaml" and "huggingface" in body]
    declaration = yaml.safe_load(block)["dataset"]
    assert set(declaration) <= COMMON | set(LAYOUT_KEYS["huggingface"])
    _check_types(declaration, "README")


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
        assert arguments[0] == "extract"
        arguments = [a for a in arguments[1:] if not a.startswith(("split=", "support_images="))]
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


def test_every_shell_line_is_checked():
    checked = re.compile(r"-m rns_bench\.(bench|tuning|features|data|report)\b|^make ")
    assert [line for line in SHELL if not checked.search(line)] == []
