"""Device choice: each DDP rank on its own GPU, for extraction and for finetuning."""

from __future__ import annotations

import torch

from baselines.offline_finetune import trainer_device
from rns_bench.backbones.dense_vlm import resolve_device


def test_auto_is_this_ranks_gpu_or_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert resolve_device("auto") == torch.device("cuda", 2)
    monkeypatch.setenv("LOCAL_RANK", "5")  # more ranks than GPUs on this node: wrap around
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")  # an explicit device is kept


def test_finetuning_trains_where_the_backbone_lives():
    assert trainer_device("auto", torch.device("cuda", 3)) == ("gpu", [3])
    assert trainer_device("auto", torch.device("cpu")) == ("auto", 1)
    assert trainer_device("cpu", torch.device("cuda", 1)) == ("cpu", 1)  # an explicit accelerator wins
