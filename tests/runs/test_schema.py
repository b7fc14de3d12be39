"""The whole config is checked before any work: each bad value is one line naming it and the fix,
and nothing is extracted or written for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_config import bench_config
from hydra import compose, initialize_config_dir

from rns_bench.bench.sweep import run_sweep
from rns_bench.cli.preflight import preflight
from rns_bench.core.errors import ConfigError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.methods import load_methods
from rns_bench.runs.schema import validate_config

BAD_VALUES = [
    ("shots=1", "shots=1 (from the override shots=1) must be a list", "write shots=[1]"),
    ("shots=[0]", "0 is not a positive whole number", "shots=[0]"),
    ("shots=[1,1]", "shots=[1,1] (from the override shots=[1,1]) names 1 twice", "list each value once: shots=[1]"),
    ("seeds=[100,100]", "names 100 twice", "list each value once: seeds=[100]"),
    ("shots=[1.5]", "1.5 is not a positive whole number", "shots="),
    ("seeds=[]", "seeds=[] (from the override seeds=[])", "seeds=published"),
    ("seeds=null", "seeds=None", "seeds=published"),
    ("test_limit=0", "test_limit=0", "or null to evaluate every test image"),
    ("test_limit=-3", "test_limit=-3", "positive integer"),
    ("protocol.visual_drop_fraction=1.5", "protocol.visual_drop_fraction=1.5", "in [0, 1]"),
    ("protocol.text_drop_fraction=-0.1", "protocol.text_drop_fraction=-0.1", "in [0, 1]"),
    ("query_mode=regio", "query_mode='regio'", "choose one of patch, region"),
    ("methods=[rnss]", "'rnss'", "did you mean rns?"),
    ("methods=[]", "methods=[]", "non-empty list"),
    ("rows.rns.options.k=0", "rows.rns (method rns)", "k"),
    ("rows.rns.method=rnss", "unknown method 'rnss'", "valid method names"),
    ("batch_size=0", "batch_size=0", "positive integer"),
    ("extraction.cache_dtype=int8", "extraction.cache_dtype='int8'", "float32, float16"),
    ("+trainer.enable_checkpointing=true", "trainer.enable_checkpointing", "set by each run itself"),
    ("+trainer.num_node=2", "trainer.num_node", "did you mean trainer.num_nodes?"),
    ("+shot=[1]", "unknown config key shot", "did you mean shots?"),
]


@pytest.mark.parametrize(("override", "names", "fix"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_a_bad_value_fails_in_one_line_before_any_work(override, names, fix, tmp_path, toy_data_root):
    cfg = bench_config(tmp_path, toy_data_root, override)
    with pytest.raises(ConfigError) as raised:
        validate_config(cfg, [override])  # what the commands do with their command line
    with pytest.raises(ConfigError):
        run_sweep(cfg)  # the sweep checks first too
    message = str(raised.value)
    assert names in message and fix in message, message
    assert "\n" not in message
    assert not (tmp_path / "cache").exists() and not (tmp_path / "results").exists()  # nothing extracted


def test_a_file_valued_or_unwritable_path_fails_naming_it(tmp_path, toy_data_root):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=f"results_dir={blocker}/results .*{blocker} is a file"):
        run_sweep(bench_config(tmp_path, toy_data_root, f"results_dir={blocker}/results"))
    if Path("/proc/self").exists():  # a pseudo file system: no user can create files there
        with pytest.raises(ConfigError, match="cache_dir=/proc/rns-bench .*cannot write in /proc"):
            run_sweep(bench_config(tmp_path, toy_data_root, "cache_dir=/proc/rns-bench"))
    assert not (tmp_path / "cache").exists()


COMPOSITION_ERRORS = [
    (
        "rows.rns.options.kk=3",
        "unknown config key rows.rns.options.kk (from the override rows.rns.options.kk=3); "
        "valid keys of rows.rns.options: alphas,",
    ),
    (
        "trainer.num_node=2",
        "unknown config key trainer.num_node (from the override trainer.num_node=2); valid keys "
        "of trainer: _target_, accelerator, devices, num_nodes,",
    ),
    ("dataset=vocc", "no config dataset/vocc.yaml; choices for dataset: acdc, ade, cityscapes,"),
    ("backbone=clip_b61", "no config backbone/clip_b61.yaml; choices for backbone:"),
]


@pytest.mark.parametrize(("override", "message"), COMPOSITION_ERRORS, ids=[c[0] for c in COMPOSITION_ERRORS])
def test_command_line_mistakes_are_one_line(override, message):
    with pytest.raises(ConfigError) as raised:
        preflight("bench", [override])
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def _group_choices() -> list[tuple[str, str]]:
    groups = ["dataset", "backbone", "proposer", "protocol", "trainer", "logger", "tuning", "experiment"]
    return [(group, path.stem) for group in groups for path in sorted((CONFIG_DIR / group).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "choice"), _group_choices(), ids=lambda v: str(v))
def test_every_config_file_composes_and_validates(group, choice, tmp_path):
    overrides = [f"{group}={choice}", f"results_dir={tmp_path}/r", f"cache_dir={tmp_path}/c"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("bench", overrides=overrides)
    if group == "proposer" and choice != "none":
        overrides.append("query_mode=region")
    validate_config(cfg, overrides)


@pytest.mark.parametrize("row", sorted(p.stem for p in (CONFIG_DIR / "method").glob("*.yaml")))
def test_every_method_row_composes_and_lists_every_option_of_its_method(row, tmp_path):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("bench", overrides=[f"methods=[{row}]", f"results_dir={tmp_path}/r"])
        tune = compose("tune", overrides=[f"results_dir={tmp_path}/r"])
    validate_config(cfg)
    validate_config(tune)
    spec = cfg.rows[row]
    defaults = load_methods().get(spec.method).default_options()
    options = dict(spec.options)

    def keys(node, prefix=""):
        return {f"{prefix}{k}" for k in node} | {
            p for k, v in node.items() if hasattr(v, "items") for p in keys(v, f"{prefix}{k}.")
        }

    assert keys(options) == keys(defaults)  # every option is there to override: rows.<row>.options.<name>=...
    if row == spec.method:  # a method's own row holds its defaults; variants (…_wo_text) change some
        assert {
            k: (list(v) if hasattr(v, "__len__") and not isinstance(v, str) and not hasattr(v, "items") else v)
            for k, v in options.items()
            if not hasattr(v, "items")
        } == {k: v for k, v in defaults.items() if not isinstance(v, dict)}


def test_every_config_file_is_composed_by_some_test():
    tested = {f"{g}/{c}.yaml" for g, c in _group_choices()} | {
        f"method/{p.name}" for p in (CONFIG_DIR / "method").glob("*.yaml")
    }
    tested |= {"method/options/rns.yaml"}  # composed into every rns row and finetune_rns (the test above)
    on_disk = {
        str(p.relative_to(CONFIG_DIR))
        for p in CONFIG_DIR.rglob("*.yaml")
        if p.parent != CONFIG_DIR and p.parent.name != "local"
    }
    assert on_disk == tested


def test_backbone_and_proposer_options_are_checked_before_anything_is_built(tmp_path, toy_data_root):
    cfg = bench_config(tmp_path, toy_data_root, "backbone=clip_b16", "+backbone.options.pretraind=x")
    with pytest.raises(
        ConfigError,
        match=r"backbone.options.pretraind .*is not an option of backbone 'clip_b16'; "
        r"did you mean pretrained\?",
    ):
        validate_config(cfg, ["+backbone.options.pretraind=x"])
    cfg = bench_config(
        tmp_path, toy_data_root, "query_mode=region", "proposer=felzenszwalb", "+proposer.options.sigmaa=1"
    )
    with pytest.raises(ConfigError, match=r"proposer.options.sigmaa .*not an option of proposer 'felzenszwalb'"):
        run_sweep(cfg)
    assert not (tmp_path / "cache").exists()


def test_a_list_with_commas_is_checked_before_hydra_but_a_sweep_is_left_to_it(tmp_path):
    from rns_bench.cli.preflight import overrides_of

    assert overrides_of(["methods=[zero_shot,rns]", "shots=[1,2]"]) == ["methods=[zero_shot,rns]", "shots=[1,2]"]
    assert overrides_of(["rows.rns.options.k=8,16"]) is None and overrides_of(["--multirun", "shots=[1]"]) is None
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="results_dir"):
        preflight("bench", ["methods=[zero_shot,rns]", f"results_dir={blocker}"])


def test_a_dataset_file_without_its_package_line_is_one_line(tmp_path):
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("bench", overrides=[f"results_dir={tmp_path}/r"])
    OmegaConf.set_struct(cfg, False)
    cfg.dataset = {"dataset": {"key": "my_dataset", "layout": "folder_listed"}}  # what Hydra makes of such a file
    with pytest.raises(
        ConfigError,
        match=r"configs/dataset/my_dataset.yaml lacks its first line `# @package "
        r"_global_`",
    ):
        validate_config(cfg)


@pytest.mark.parametrize("trials", ["0", "-3", "many"])
def test_n_trials_below_one_is_one_line_before_any_work(trials, tmp_path):
    with pytest.raises(ConfigError, match=rf"tuning.n_trials=.?{trials}.? .*a study needs at least one trial"):
        preflight("bench", [f"tuning.n_trials={trials}", f"results_dir={tmp_path}/r"])
