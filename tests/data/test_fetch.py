"""``fetch``: offline it fails at once with the URL; datasets behind a registration name their page."""

from __future__ import annotations

import time

import pytest

import rns_bench.cli.data as cli
from rns_bench.core.errors import InputError, UnknownNameError
from rns_bench.data.fetch import fetch


def test_offline_fetch_fails_at_once_naming_the_archive(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNS_OFFLINE", "1")
    started = time.perf_counter()
    assert cli.main(["fetch", "voc", "--data-root", str(tmp_path)]) == 2
    assert time.perf_counter() - started < 1.0
    err = capsys.readouterr().err
    assert "VOCtrainval_11-May-2012.tar" in err and "RNS_OFFLINE" in err
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(("key", "named"), [("ade", "ADEChallengeData2016.zip"), ("cityscapes", "cityscapes-dataset")])
def test_datasets_behind_a_registration_name_where_to_get_them(tmp_path, key, named):
    with pytest.raises(InputError, match=named):
        fetch(key, tmp_path)


def test_unknown_key_lists_the_fetchable_ones(tmp_path):
    with pytest.raises(UnknownNameError, match="voc"):
        fetch("vocc", tmp_path)


def test_named_archives_are_the_ones_torchvision_downloads():
    from torchvision.datasets.voc import DATASET_YEAR_DICT

    from rns_bench.data.fetch import VOC_ARCHIVES

    assert {year: DATASET_YEAR_DICT[year]["url"] for year in VOC_ARCHIVES} == VOC_ARCHIVES
