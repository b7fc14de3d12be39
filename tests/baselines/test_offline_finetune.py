"""Finetuning the encoder + a linear head through ``Trainer.fit`` (random_vlm: a trainable conv)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.offline_finetune import FinetuneConfig, encode, finetune
from rns_bench.backbones import build_backbone
from rns_bench.errors import ConfigError, InputError
from rns_bench.features.dense import extract_dense


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
        FinetuneConfig.from_dict({"learning_rate": 1.0})
    images, labels = two_colour_images(1)
    with pytest.raises(InputError, match="no labelled support pixel"):
        finetune(build_backbone("random_vlm", dim=8), images, [np.full_like(labels[0], 255)], 3, FinetuneConfig())


def test_finetune_rows_end_to_end_on_toy_with_random_vlm(tmp_path, toy_data_root):
    """The integration the runner needs: finetune on the run's support images, re-extract with the
    finetuned backbone (a fresh store, no cache), then ``finetune`` (its head) and ``finetune_rns``."""
    import lightning as L
    from bench_config import bench_config

    from baselines.offline_finetune import FinetunedHead, finetune_for_run
    from rns_bench.bench.run import build_context
    from rns_bench.data.datamodule import DatasetContext, FewShotDataModule
    from rns_bench.features.store import FeatureStore
    from rns_bench.methods import build_method

    cfg = bench_config(tmp_path, toy_data_root, "backbone=random_vlm", "test_limit=3")
    context = build_context(cfg)
    split = context.support_split(1, 100)
    finetuned = finetune_for_run(context, split.image_ids[:4], [3], FinetuneConfig(steps=4, accelerator="cpu"))
    assert not bool(finetuned.head.supported[3])  # a dropped class cannot be predicted
    tuned = DatasetContext(context.spec, context.data_root,
                           FeatureStore(finetuned.backbone, None, context.support_store.settings),
                           FeatureStore(finetuned.backbone, None, context.test_store.settings), test_limit=3)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False)
    for method in (FinetunedHead(finetuned, context.class_names, 16),
                   build_method("rns", context.class_names, 16, {"steps": 5})):
        datamodule = FewShotDataModule(tuned, 1, 100)
        method.attach_support(datamodule.support_bank(), tuned.text_features)
        trainer.test(method, datamodule=datamodule, verbose=False)
        assert 0 <= method.results["mIoU"] <= 100
