"""Personalized segmentation (Fig. 7): the toy world's personal instance, the study's scoring, the
study end to end for the open-vocabulary methods, and the fig7_personalized experiment job + report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rns_bench.bench.personalized import run_personalized, run_personalized_experiment, score, study_folder
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.report.build import build_report, experiment_backbones
from rns_bench.runs.config import PersonalizedSetup
from rns_bench.toy.personal import personal_scenes
from rns_bench.toy.world import ToyWorld
from tests.bench_config import bench_config

SMALL = PersonalizedSetup(
    generic_support_per_class=1, personal_support=3, test_with_instance=4, test_without_instance=2
)


def test_the_personal_look_is_the_class_colours_in_a_print_the_class_never_shows():
    world = ToyWorld(0)
    for name in ("dog", "cat", "zebra"):
        cls = world.classes[world.class_index(name)]
        look = world.personal_look(name)
        assert look.colour == cls.modes[0].colour and look.texture_colour == cls.modes[0].texture_colour
        assert look.pattern not in {mode.pattern for mode in cls.modes}
    with pytest.raises(InputError, match="foreground"):
        world.personal_look("background")


def test_personal_scenes_hold_the_instance_with_its_label_and_test_scenes_a_generic_member_too():
    world = ToyWorld(0)
    dog, personal = world.class_index("dog"), world.num_classes
    with_instance = personal_scenes(world, "dog", "test_with", 3, personal)
    without = personal_scenes(world, "dog", "test_without", 3, personal)
    assert all((s.label == personal).sum() > 300 and (s.label == dog).any() for s in with_instance)
    assert all(not (s.label == personal).any() and (s.label == dog).sum() > 300 for s in without)
    again = personal_scenes(world, "dog", "test_with", 1, personal)[0]  # deterministic, independent of count
    assert np.array_equal(again.image, with_instance[0].image)


def test_score_counts_the_instance_against_the_generic_class_and_can_ignore_it():
    # classes: 0 other, 1 generic, 2 personal. Truth / prediction over 6 pixels (255 ignored).
    truth = np.array([[1, 1, 2, 2, 0, 255]], np.uint8)
    before = np.array([[1, 0, 1, 1, 0, 1]], np.uint8)  # the instance called by its class
    after = np.array([[1, 1, 2, 1, 0, 0]], np.uint8)
    b = score([before], [truth], generic=1, personal=2)
    # generic: intersection 1 (pixel 0), union = truth {0,1} ∪ pred {0,2,3} = 4 → 25 %; ignoring the
    # instance's pixels: union {0,1} → 50 %; personal: never predicted → 0.
    assert b["generic_IoU"] == pytest.approx(25.0) and b["generic_IoU_without_instance"] == pytest.approx(50.0)
    assert b["personal_IoU"] == 0.0 and b["instance_as_generic"] == pytest.approx(100.0)
    a = score([after], [truth], generic=1, personal=2)
    # personal: intersection 1 of union 2; generic: intersection 2, union {0,1,3} = 3.
    assert a["personal_IoU"] == pytest.approx(50.0) and a["generic_IoU"] == pytest.approx(200 / 3)
    assert a["instance_as_personal"] == pytest.approx(50.0) and a["generic_as_personal"] == 0.0


@pytest.mark.parametrize("method,options", [("knn_clip", {}), ("freeda", {}), ("rns", {"steps": 200})])
def test_adding_the_instance_makes_it_segmented_as_itself_and_generic_dogs_stay_dogs(method, options):
    result = run_personalized(SMALL, "toy_vlm", method, options)
    before, after = result.metrics["before"], result.metrics["after"]
    assert before["personal_IoU"] == 0.0 and before["instance_as_personal"] == 0.0
    assert after["personal_IoU"] > before["personal_IoU"] + 30
    assert after["instance_as_generic"] < before["instance_as_generic"] - 10
    assert after["generic_IoU_without_instance"] > before["generic_IoU_without_instance"] - 5
    assert after["generic_as_personal"] < 5
    # Cost of adding the class: its three support images; the test images were extracted once.
    assert result.images_extracted == {"support": 15 + 3, "test": 6}
    assert result.class_names[-1] == "my dog" and len(result.shown) == 4 and len(result.support) == 3


def _config(tmp_path, toy_data_root, *overrides):
    small = [f"experiment.personalized.{k}={v}" for k, v in SMALL.as_dict().items()]
    return bench_config(tmp_path, toy_data_root, "experiment=fig7_personalized", *small, *overrides)


def test_the_experiment_writes_records_skips_finished_rows_reruns_changed_ones_and_reports(tmp_path, toy_data_root):
    cfg = _config(tmp_path, toy_data_root, "methods=[knn_clip,freeda]")
    first = run_personalized_experiment(cfg)
    assert "knn_clip: my dog IoU 0.0 →" in first and "freeda: my dog IoU 0.0 →" in first
    folder = study_folder(tmp_path / "results", "toy_vlm")
    record_path = next((folder / "knn_clip").glob("*.json"))
    record = json.loads(record_path.read_text())
    assert record["metrics"]["after"]["personal_IoU"] > 30
    images = record_path.parent / record["images"]
    assert {p.name for p in images.glob("*_0.png")} == {
        "image_0.png",
        "truth_0.png",
        "before_0.png",
        "after_0.png",
        "support_0.png",
        "support_mask_0.png",
    }
    assert "done before" in run_personalized_experiment(cfg)
    changed = _config(tmp_path, toy_data_root, "methods=[knn_clip]", "rows.knn_clip.options.k=5")
    assert "done before" not in run_personalized_experiment(changed)
    assert len(list((folder / "knn_clip").glob("*.json"))) == 2  # the old record stays beside the new one

    assert experiment_backbones("fig7_personalized", tmp_path / "results") == ["toy_vlm"]
    small = [f"experiment.personalized.{k}={v}" for k, v in SMALL.as_dict().items()]
    by_k = {
        r["identity"]["method"]["options"]["k"]: r["metrics"]["after"]["personal_IoU"]
        for r in (json.loads(p.read_text()) for p in (folder / "knn_clip").glob("*.json"))
    }
    default_k = next(k for k in by_k if k != 5)
    # The report shows the config it declares (the same overrides as the job), not the newest record:
    text = build_report("fig7_personalized", tmp_path / "results", "toy_vlm", overrides=small)
    out = tmp_path / "results" / "reports" / "fig7_personalized" / "toy_vlm"
    assert (out / "report.png").stat().st_size > 10_000 and (out / "support.png").is_file()
    assert f"| kNN-CLIP | 0.0 → **{by_k[default_k]:.1f}**" in text and "| FREEDA |" in text
    assert "| RNS |" not in text
    assert "No record of the declared config yet for: RNS" in text
    assert "| 1 | another config: differs in method.options.k | knn_clip | toy |" in text
    text = build_report(
        "fig7_personalized", tmp_path / "results", "toy_vlm", overrides=[*small, "rows.knn_clip.options.k=5"]
    )
    assert f"| kNN-CLIP | 0.0 → **{by_k[5]:.1f}**" in text
    unchanged = build_report("fig7_personalized", tmp_path / "results", "toy_vlm")  # another setup: nothing shown
    assert "No records of the declared config yet" in unchanged and "differs in setup." in unchanged


@pytest.mark.parametrize(
    "override,message",
    [
        ("dataset=voc", "runs on the toy world"),
        ("experiment.personalized.class_name=background", "foreground class"),
        ("experiment.personalized.class_name=unicorn", "unicorn"),
        ("+experiment.personalized.shots=3", "unknown key 'shots'"),
        ("experiment.personalized.personal_support=0", "personal_support=0"),
    ],
)
def test_bad_study_settings_fail_in_one_line_before_any_work(tmp_path, toy_data_root, override, message):
    cfg = _config(tmp_path, toy_data_root, "methods=[knn_clip]", override)
    with pytest.raises((ConfigError, InputError), match=message) as error:
        run_personalized_experiment(cfg)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "results" / "toy").exists()


def test_scored_label_space_includes_the_personal_class_only_after():
    # Before: predictions never exceed the toy classes; the scorer still sizes its matrix for K + 1.
    truth = np.full((2, 2), 16, np.uint8)
    metrics = score([np.zeros((2, 2), np.uint8)], [truth], generic=8, personal=16)
    assert metrics["personal_IoU"] == 0.0 and np.isnan(metrics["generic_IoU"])
    assert not torch.isnan(torch.tensor(metrics["mIoU"]))
