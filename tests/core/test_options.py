"""Option values of the wrong type are one line naming the option, the value and what it takes."""

from __future__ import annotations

import pytest
from bench_config import bench_config

from rns_bench.core.errors import ConfigError
from rns_bench.core.options import options_from_dict
from rns_bench.rns.config import RNSConfig


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": "eight"}, r"RNS option k='eight' must be a whole number \(e.g. 4\)"),
        ({"k": True}, r"RNS option k=True must be a whole number"),
        ({"alphas": []}, r"RNS option alphas=\[\] must not be empty"),
        ({"alphas": [0.5, "x"]}, r"RNS option alphas\[1\]='x' must be a number"),
        ({"betas": [0.9]}, r"RNS option betas=\[0.9\] must have 2 values"),
        ({"use_text": "false"}, r"RNS option use_text='false' must be true or false"),
        ({"retrieval": 3}, r"RNS option retrieval=3 must be a string"),
        ({"lr": -1}, r"RNS lr=-1.0 must be positive \(default 0.002\)"),
        ({"weight_decay": -0.1}, r"RNS weight_decay=-0.1 must be 0 or more"),
        ({"betas": [0.9, 1.0]}, r"RNS betas must lie in \[0, 1\)"),
    ],
)
def test_wrong_types_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        options_from_dict(RNSConfig, options, "RNS")


def test_right_types_are_converted_as_yaml_gives_them():
    config = options_from_dict(RNSConfig, {"lr": 1, "alphas": [1, 0.5], "betas": [0.9, 0.99], "k": 8}, "RNS")
    assert config.lr == 1.0 and isinstance(config.lr, float) and config.alphas == (1.0, 0.5) and config.k == 8


def test_a_bad_backbone_option_value_is_not_called_a_damaged_checkpoint(tmp_path, toy_data_root):
    from rns_bench.bench.sweep import run_sweep

    with pytest.raises(ConfigError, match=r"backbone toy_vlm cannot be built from .*world_seed='abc'.*ValueError"):
        run_sweep(bench_config(tmp_path, toy_data_root, "backbone.options.world_seed=abc"))
