"""Finetuning the encoder + a linear head through ``Trainer.fit`` (random_vlm: a trainable conv)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.offline_finetune import FinetuneConfig, encode, finetune
from rns_bench.backbones import build_backbone
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.features.dense import extract_dense
from rns_bench.methods import build_method


def two_colour_images(n: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Left half red = class 1, right half green = class 2, a 255 band between; 40×48 pixels
    (not a multiple of the patch: padding and cropping are exercised)."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for _ in range(n):
        image = rng.integers(0, 40, (40, 48, 3), dtype=np.uint8)
        image[:, :24, 0] += 180
        image[:, 24:, 1] += 180
        label = np.full((40, 48), 1, np.uint8)
        label[:, 24:] = 2
        label[:, 23:25] = 255
        images.append(image)
        labels.append(label)
    return images, labels


def test_finetune_trains_encoder_and_head_with_lightning_fit(tmp_path):
    backbone = build_backbone("random_vlm", dim=8)
    images, labels = two_colour_images()
    config = FinetuneConfig(steps=15, lr=0.1, encoder_lr=1e-2, batch_size=2, accelerator="cpu")
    result = finetune(backbone, images, labels, num_classes=3, config=config, root_dir=tmp_path)
    assert result.checkpoint is not None and result.checkpoint.exists()  # Lightning's checkpointing
    assert not torch.equal(result.backbone.embed.weight, backbone.embed.weight)  # the encoder moved ...
    assert not any(p.requires_grad for p in backbone.parameters())  # ... the original did not
    assert result.head.supported.tolist() == [False, True, True]
    dense = extract_dense(result.backbone, images[:1], None)[0]  # the finetuned backbone extracts as usual
    predicted = result.head.probs(dense.features.reshape(-1, 8)).argmax(1).reshape(dense.features.shape[:2])
    assert (predicted[:, 0] == 1).all() and (predicted[:, -1] == 2).all()
    again = finetune(backbone, images, labels, num_classes=3, config=config)
    assert torch.allclose(again.backbone.embed.weight, result.backbone.embed.weight)  # seeded


def test_encode_is_differentiable_and_bad_setups_fail():
    backbone = build_backbone("random_vlm", dim=8).requires_grad_(True)
    encode(backbone, torch.rand(1, 3, 16, 32)).sum().backward()
    assert backbone.embed.weight.grad is not None
    with pytest.raises(ConfigError, match="valid options"):
        build_method("finetune", ["a"], 16, {"learning_rate": 1.0})
    images, labels = two_colour_images(1)
    with pytest.raises(InputError, match="no labelled support pixel"):
        finetune(build_backbone("random_vlm", dim=8), images, [np.full_like(labels[0], 255)], 3, FinetuneConfig())


def test_toy_backbone_finetunes_its_heads_and_leaves_the_original_alone():
    backbone = build_backbone("toy_vlm")
    trainable = backbone.trainable_copy()
    names = {name for name, _ in trainable.named_parameters()}
    assert names == {"semantic_head", "appearance_head"} and not list(backbone.parameters())
    encode(trainable, torch.rand(1, 3, 32, 32)).sum().backward()
    assert trainable.semantic_head.grad is not None and trainable.appearance_head.grad is not None
    with torch.no_grad():
        trainable.semantic_head.add_(1.0)
    assert not torch.equal(trainable.semantic_head, backbone.semantic_head)


def test_the_context_encoders_train_once_per_images_labels_options_and_backbone(monkeypatch, tmp_path):
    """``finetuned`` through a context's AdaptedEncoders trains again exactly when the support images, their
    labels, the options, the support resize, the kept checkpoint's folder or the backbone change."""
    import baselines.offline_finetune as module
    from rns_bench.methods.adapted import AdaptedEncoders

    trained = []
    monkeypatch.setattr(module, "finetune", lambda *args: trained.append(args) or object())
    backbone, images, labels = build_backbone("random_vlm", dim=8), *two_colour_images(2)
    config, encoders = FinetuneConfig(steps=2), AdaptedEncoders()

    def count(*changed, encoders=encoders, **options) -> int:
        args = dict(backbone=backbone, images=images, labels=labels, num_classes=3, config=config, short_side=None)
        args.update(options)
        module.finetuned(**args, work_dir=tmp_path, encoders=encoders)
        return len(trained)

    assert count() == 1 and count() == 1
    assert count(images=[image.copy() for image in images]) == 1  # by content, not identity
    relabelled = [labels[0], np.where(labels[1] == 2, 255, labels[1]).astype(np.uint8)]
    assert count(labels=relabelled) == 2
    assert count() == 3  # one entry only: back to the first set trains again
    assert count(config=FinetuneConfig(steps=3)) == 4
    assert count(short_side=32) == 5
    assert count(config=FinetuneConfig(steps=2, keep_checkpoint=True)) == 6  # a checkpoint under work_dir
    assert count(backbone=build_backbone("random_vlm", dim=8)) == 7
    assert count(encoders=None) == 8 and count(encoders=None) == 9  # no context: adapted afresh
    assert trained[-1][-1] is None  # keep_checkpoint false: no checkpoint folder


def sweep(tmp_path, toy_data_root, tuned: dict, *overrides):
    """finetune, finetune_rns and rns at B = 1, seed 100, with ``tuned`` as finetune's tuned
    parameters for this support set (finetune_rns reads them too: tuned_params_of)."""
    from bench_config import bench_config

    from rns_bench.bench.sweep import run_sweep
    from rns_bench.ops.resize import PIXEL_PIPELINE
    from rns_bench.runs.config import RunConfig
    from rns_bench.runs.context import build_context
    from rns_bench.runs.key import RunKey
    from rns_bench.runs.plan import tuning_fingerprint_of, write_best_params
    from rns_bench.runs.records import read_records

    results = tmp_path / "results"
    key = RunKey("toy", "toy_vlm", "full", "finetune", 1, 100)
    cfg = bench_config(
        tmp_path,
        toy_data_root,
        "methods=[rns,finetune,finetune_rns]",
        "shots=[1]",
        "seeds=[100]",
        "test_limit=6",
        "tune_missing=false",
        *overrides,
    )
    run = RunConfig.of(cfg)
    fp = tuning_fingerprint_of(run, build_context(run), run.row("finetune"), key)  # as the sweep plans it
    path = key.tuned_path(results, fp)
    write_best_params(path, {"params": tuned, "pixel_pipeline": PIXEL_PIPELINE, "tuning_fingerprint": fp})
    run_sweep(cfg)
    return {r.row: r.to_json() for r in read_records(results, "toy", "toy_vlm", "full")}, path


def test_finetune_rows_run_in_the_sweep_on_the_finetuned_encoder(tmp_path, toy_data_root, monkeypatch):
    import baselines.offline_finetune as module

    calls = []
    monkeypatch.setattr(module, "finetune", lambda *args, **kw: calls.append(1) or finetune(*args, **kw))
    # encoder_lr = 0: AdamW leaves the encoder exactly as it was (its decay is scaled by the lr),
    # so finetune + RNS must equal RNS to the last digit: same features, bank, text and seeds.
    frozen, tuned_file = sweep(tmp_path / "frozen", toy_data_root, {"steps": 3, "encoder_lr": 0.0})
    assert len(calls) == 1  # finetune and finetune_rns of one support set share one finetuned encoder
    assert frozen["finetune_rns"]["metrics"] == frozen["rns"]["metrics"]
    assert frozen["finetune_rns"]["tuned_params"] == frozen["finetune"]["tuned_params"] == str(tuned_file)
    options = frozen["finetune_rns"]["method_options"]  # the row's options (all listed), tuned ones on top
    assert options["steps"] == 3 and options["encoder_lr"] == 0.0 and options["batch_size"] == 4
    assert options["rns"]["k"] == 4
    # Closed vocabulary: the finetune head reports what it can never predict.
    assert "unpredictable_classes" in frozen["finetune"]["metrics"]

    moved, _ = sweep(tmp_path / "moved", toy_data_root, {"steps": 3, "encoder_lr": 0.05, "batch_size": 2})
    assert moved["finetune_rns"]["metrics"]["mIoU"] != moved["rns"]["metrics"]["mIoU"]
    assert moved["rns"]["metrics"] == frozen["rns"]["metrics"]  # the shared, cached features were not touched
