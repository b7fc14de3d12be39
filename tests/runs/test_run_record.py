"""Records are read and written through one typed ``RunRecord``: its JSON is the record file, key for key
and byte for byte, old-shaped files still load, and unreadable ones stay unreadable."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep
from rns_bench.runs.records import (
    UNREADABLE,
    RunRecord,
    has_record,
    load_record,
    read_records,
    unusable,
    write_record,
)

SCOPE = ("toy", "toy_vlm", "full")
# The keys of an evaluated run's record file, as sweeps wrote them before RunRecord (RECORD_VERSION 3).
EVALUATED_KEYS = {
    *("fingerprint", "config_fingerprint", "identity", "dataset", "backbone", "protocol", "row", "method"),
    *("method_options", "tuned_params", "query_mode", "shots", "seed", "support_split", "support_dataset"),
    *("support_images_per_class", "classes_without_images", "classes_without_names", "class_list_sha256"),
    *("pixel_pipeline", "backbone_provenance", "num_test_images", "resumed_after_images", "metrics"),
    *("predictions", "timings_s", "seconds_per_image", "config", "environment", "created"),
}


@pytest.fixture(scope="module")
def toy_records(tmp_path_factory, toy_data_root) -> list[Path]:
    """The record files of a real toy sweep: kNN-CLIP (untuned: ``tuned_params`` null), zero-shot evaluated at
    B = 1 and written from that evaluation at B = 2 (``evaluated_once``), with saved predictions."""
    tmp = tmp_path_factory.mktemp("records")
    overrides = ["shots=[1,2]", "seeds=[100]", "test_limit=4", "methods=[zero_shot,knn_clip]", "save_predictions=1"]
    run_sweep(bench_config(tmp, toy_data_root, *overrides))
    paths = sorted((tmp / "results").joinpath(*SCOPE).glob("*/B*_seed*-*.json"))
    assert len(paths) == 4
    return paths


def test_a_real_record_round_trips_to_the_same_json_and_the_same_bytes(toy_records, tmp_path):
    for path in toy_records:
        data = json.loads(path.read_text())
        record = RunRecord.from_json(data)
        assert record.to_json() == data
        assert load_record(path) == record
        copy = tmp_path / path.name
        assert write_record(copy, record) and copy.read_bytes() == path.read_bytes()
        assert (record.row, record.shots, record.seed) == (data["row"], data["shots"], data["seed"])
        assert record.metric("mIoU") == data["metrics"]["mIoU"] and record.extra == {}
        assert has_record(path, data["fingerprint"]) and not has_record(path, "0" * 64)
    keys = {(r.row, r.shots): set(r.to_json()) for r in map(load_record, toy_records)}
    assert keys["knn_clip", 1] == keys["knn_clip", 2] == EVALUATED_KEYS
    assert keys["zero_shot", 1] == EVALUATED_KEYS | {"evaluation_fingerprint"}  # one evaluation serves B = 2
    assert keys["zero_shot", 2] == EVALUATED_KEYS | {"evaluation_fingerprint", "evaluated_once"}
    shared = [r for r in map(load_record, toy_records) if r.evaluated_once]
    assert [(r.row, r.shots, r.evaluated_once["source_shots"]) for r in shared] == [("zero_shot", 2, 1)]
    knn = next(r for r in map(load_record, toy_records) if r.row == "knn_clip")
    assert knn.tuned_params is None and knn.to_json()["tuned_params"] is None  # written as null, kept as null
    assert "evaluation_fingerprint" not in knn.to_json()  # absent, kept absent


def test_an_old_shaped_record_still_loads_and_keeps_what_it_holds(toy_records, tmp_path):
    data = json.loads(toy_records[0].read_text())
    old = {k: v for k, v in data.items() if k not in ("support_dataset", "resumed_after_images", "predictions")}
    old.pop("tuned_params", None)
    old["comment"] = "a key this code does not know"
    path = tmp_path.joinpath(*SCOPE, old["row"], toy_records[0].name)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    record = load_record(path)
    assert isinstance(record, RunRecord) and record.to_json() == old
    assert record.support_dataset is None and record.predictions is None and record.tuned_params is None
    assert record.extra == {"comment": "a key this code does not know"}
    assert has_record(path, old["fingerprint"]) and unusable(record) is None
    assert read_records(tmp_path, *SCOPE) == [record]


def test_a_truncated_or_foreign_file_is_unreadable_and_a_missing_one_is_none(toy_records, tmp_path):
    truncated = tmp_path / "B1_seed100-truncated.json"
    truncated.write_text(toy_records[0].read_text()[:40])
    foreign = tmp_path / "B1_seed100-foreign.json"
    foreign.write_text(json.dumps({"row": "rns", "mIoU": 40.0}))  # no metrics mapping: not a record
    for path in (truncated, foreign):
        assert load_record(path) is UNREADABLE and not load_record(path)
        assert not has_record(path, "anything")
    assert load_record(tmp_path / "absent.json") is None
    row = tmp_path.joinpath(*SCOPE, "rns")
    row.mkdir(parents=True)
    truncated.rename(row / truncated.name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_records(tmp_path, *SCOPE) == []
    assert any("skipping the unreadable record" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="needs a 'row' and a 'metrics' mapping"):
        RunRecord.from_json({"row": "rns", "metrics": [40.0]})


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"shots": "1"}, "shots='1' is not a whole number"),
        ({"seed": True}, "seed=True is not a whole number"),
        ({"metrics": {"mIoU": "high"}}, "metrics.mIoU='high' is not a number"),
        ({"metrics": {"per_class_IoU": {"cat": "x"}}}, "metrics.per_class_IoU is not a mapping"),
        ({"seconds_per_image": {"method": "fast"}}, "seconds_per_image is not a mapping"),
        ({"created": None}, "created=None is not a time stamp"),  # null, unlike absent, is a value
        ({}, None),
    ],
)
def test_values_of_the_wrong_type_are_kept_as_read_and_named_by_unusable(change, problem):
    data = {"row": "rns", "shots": 1, "seed": 100, "metrics": {"mIoU": 40.0}, **change}
    record = RunRecord.from_json(data)
    assert record.to_json() == data
    found = unusable(record)
    assert found is None if problem is None else problem in found
