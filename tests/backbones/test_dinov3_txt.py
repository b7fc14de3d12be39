"""dinov3_txt through torch.hub.load(source="local") on a stand-in dinov3 checkout: a hubconf.py
whose entry has the real signature and returns a tiny model with the attributes the backbone
reads (visual_model.backbone.forward_features → x_norm_patchtokens, encode_text → 2048-d, a
tokenizer with .tokenize). The real weights are gated; this pins the loading and the maths."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rns_bench.backbones import BACKBONES, build_backbone
from rns_bench.backbones.dinov3_txt import IMAGENET_MEAN, IMAGENET_STD, DINOv3Txt

HUBCONF = """
import json
import torch
from torch import nn

dependencies = ["torch"]


class Backbone(nn.Module):
    patch_size, embed_dim = 16, 1024

    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, 1024, 16, stride=16)

    def forward_features(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        return {"x_norm_clstoken": tokens.mean(1), "x_norm_patchtokens": nn.functional.layer_norm(tokens, (1024,))}


class Tokenizer:
    def tokenize(self, texts, context_length=77):
        return torch.tensor([[len(t), sum(map(ord, t)) % 101, t.count("a")] for t in texts])


class DINOTxt(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual_model = nn.Module()
        self.visual_model.backbone = Backbone()
        self.text = nn.Linear(3, 2048)

    def encode_text(self, tokens):
        return self.text(tokens.float())


def dinov3_vitl16_dinotxt_tet1280d20h24l(*, pretrained=True, weights=None, backbone_weights=None, {vocab}=None,
                                         check_hash=False):
    with open(__file__.replace("hubconf.py", "calls.json"), "w") as f:
        json.dump({"weights": weights, "backbone_weights": backbone_weights, "vocabulary": {vocab}}, f)
    torch.manual_seed(0)
    return DINOTxt(), Tokenizer()
"""


def _checkout(root: Path, vocabulary_argument: str = "bpe_path_or_url") -> dict[str, str]:
    """A stand-in dinov3 clone and weight files under ``root`` → the backbone options."""
    root.mkdir()
    (root / "hubconf.py").write_text(HUBCONF.replace("{vocab}", vocabulary_argument))
    files = {
        "weights": root / "dinov3_vitl16_dinotxt_vision_head_and_text_encoder-a442d8f5.pth",
        "backbone_weights": root / "dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth",
        "bpe_path": root / "bpe_simple_vocab_16e6.txt.gz",
    }
    for path in files.values():
        path.write_bytes(b"")
    return {"repo_dir": str(root), **{option: str(path) for option, path in files.items()}}


@pytest.fixture(scope="module")
def dinov3(tmp_path_factory) -> DINOv3Txt:
    return build_backbone("dinov3_txt", device="cpu", **_checkout(tmp_path_factory.mktemp("hub") / "dinov3"))


def test_registry_name_and_attributes(dinov3: DINOv3Txt) -> None:
    assert BACKBONES.get("dinov3_txt") is DINOv3Txt
    assert (dinov3.name, dinov3.patch_size, dinov3.dim) == ("dinov3_txt", 16, 1024)


@pytest.mark.parametrize("vocabulary_argument", ["bpe_path_or_url", "bpe_path"])
def test_the_hub_entry_receives_the_configured_files(tmp_path: Path, vocabulary_argument: str) -> None:
    import json

    options = _checkout(tmp_path / "dinov3", vocabulary_argument)
    build_backbone("dinov3_txt", device="cpu", **options)
    calls = json.loads((tmp_path / "dinov3" / "calls.json").read_text())
    assert calls == {
        "weights": options["weights"],
        "backbone_weights": options["backbone_weights"],
        "vocabulary": options["bpe_path"],
    }


def test_dense_features_are_the_backbones_normalised_patch_tokens(dinov3: DINOv3Txt) -> None:
    images = torch.rand(2, 3, 48, 80, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        tokens = dinov3.model.visual_model.backbone.forward_features((images - mean) / std)["x_norm_patchtokens"]
    features = dinov3.encode_image(images)
    assert features.shape == (2, 1024, 3, 5)
    torch.testing.assert_close(features, F.normalize(tokens, dim=-1).reshape(2, 3, 5, 1024).permute(0, 3, 1, 2))


def test_text_keeps_the_patch_aligned_half_then_averages_the_templates(dinov3: DINOv3Txt) -> None:
    from rns_bench.backbones.prompts import ensemble_text_features

    templates = (lambda c: f"a photo of a {c}.", lambda c: f"art of the {c}.")
    features = ensemble_text_features(dinov3.encode_prompts, ["cat", "bus"], templates)
    with torch.no_grad():
        for k, name in enumerate(["cat", "bus"]):
            full = dinov3.model.encode_text(dinov3.tokenizer.tokenize([t(name) for t in templates]))
            assert full.shape == (2, 2048)
            half = F.normalize(full[:, 1024:], dim=-1)
            torch.testing.assert_close(features[k], F.normalize(half.mean(0), dim=0))
    assert dinov3.encode_text(["cat", "bus", "tree"]).shape == (3, 1024)


def test_the_checkouts_commit_is_recorded(tmp_path: Path) -> None:
    """The release loads a user's ./dinov3 checkout at whatever commit it is: records must say which."""
    import subprocess

    options = _checkout(tmp_path / "dinov3")
    assert build_backbone("dinov3_txt", device="cpu", **options).provenance() == {"dinov3_commit": None}
    git = ["git", "-C", options["repo_dir"], "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "hubconf.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "stand-in"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert build_backbone("dinov3_txt", device="cpu", **options).provenance() == {"dinov3_commit": head}
    (tmp_path / "dinov3" / "hubconf.py").write_text(HUBCONF.replace("{vocab}", "bpe_path_or_url") + "\n# edited\n")
    assert build_backbone("dinov3_txt", device="cpu", **options).provenance() == {"dinov3_commit": f"{head}+dirty"}
