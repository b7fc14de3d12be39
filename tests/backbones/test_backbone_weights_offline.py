"""Offline reality (features.md): a missing weight file fails in well under a second with an
InputError that names what is missing and the fix; a cached one is found without network."""

import time
from pathlib import Path

import pytest

open_clip = pytest.importorskip("open_clip")  # imported here so its import time is not what gets timed

from rns_bench.backbones import build_backbone  # noqa: E402
from rns_bench.backbones.weight_files import resolve_open_clip_weights  # noqa: E402
from rns_bench.core.errors import InputError  # noqa: E402

CLIP_REPO = "laion/CLIP-ViT-B-16-laion2B-s34B-b88K"


def _fails_fast(name: str, **options) -> str:
    """Build ``name``; it must raise InputError within a second. Returns the message."""
    start = time.perf_counter()
    with pytest.raises(InputError) as raised:
        build_backbone(name, **options)
    assert time.perf_counter() - start < 1.0
    return str(raised.value)


@pytest.fixture(autouse=True)
def offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_missing_hub_weights_offline_name_the_repo_the_cache_and_the_fixes(tmp_path: Path) -> None:
    message = _fails_fast("clip_b16", hf_cache_dir=str(tmp_path))
    for needed in (
        CLIP_REPO,
        "open_clip_model.safetensors",
        str(tmp_path),
        "HF_HUB_OFFLINE",
        "backbone.options.pretrained=/path/to/",
        "hf download",
        "HF_HUB_CACHE",
    ):
        assert needed in message


def test_missing_local_checkpoint_names_the_option(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "open_clip_model.safetensors"
    message = _fails_fast("clip_b16", pretrained=str(missing))
    assert f"backbone.options.pretrained={str(missing)!r} is not a file" in message


def test_unknown_tag_lists_the_valid_tags() -> None:
    message = _fails_fast("clip_b16", pretrained="laion2b")
    assert "laion2b_s34b_b88k" in message and "openai" in message


def test_siglip2_offline_fails_fast_on_its_uncached_tokenizer_files_not_on_a_missing_library(tmp_path: Path) -> None:
    # make setup installs transformers (the siglip extra), so what is missing here is the tokenizer's files
    message = _fails_fast("siglip2_l16", hf_cache_dir=str(tmp_path))
    assert "pip install transformers" not in message
    for needed in ("timm/ViT-L-16-SigLIP2-512", "tokenizer.json", "backbone.options.tokenizer="):
        assert needed in message


def test_siglip2s_tokenizer_stack_works_from_a_local_tokenizer_folder(tmp_path: Path) -> None:
    """open_clip's HFTokenizer with SigLIP2's settings on a small local tokenizer: transformers and
    tokenizers as installed work together offline (the real Gemma files only change the vocabulary)."""
    from open_clip.tokenizer import HFTokenizer
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<eos>", "<unk>", "a", "photo", "of", "cat", "dog"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    ).save_pretrained(str(tmp_path / "tok"))
    text_cfg = open_clip.get_model_config("ViT-L-16-SigLIP2-512")["text_cfg"]
    tokenizer = HFTokenizer(
        str(tmp_path / "tok"), context_length=text_cfg["context_length"], **text_cfg["tokenizer_kwargs"]
    )
    ids = tokenizer(["a photo of a cat.", "a dog"])
    assert ids.shape == (2, text_cfg["context_length"])
    assert ids[0, :5].tolist() == [3, 4, 5, 3, 6] and ids[1, :2].tolist() == [3, 7]  # canonicalize drops the '.'


def _fake_hub_cache(root: Path, repo_id: str, filename: str) -> Path:
    """The Hugging Face cache layout: models--org--name/{refs/main, snapshots/<rev>/<file>}."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    (snapshot / filename).write_bytes(b"not really weights")
    return snapshot / filename


@pytest.mark.parametrize("filename", ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
def test_cached_weights_are_found_without_network(tmp_path: Path, filename: str) -> None:
    cached = _fake_hub_cache(tmp_path, CLIP_REPO, filename)
    weights = resolve_open_clip_weights("clip_b16", "ViT-B-16", "laion2b_s34b_b88k", cache_dir=str(tmp_path))
    assert Path(weights.checkpoint) == cached and not weights.quick_gelu


def test_openai_tags_keep_their_quick_gelu(tmp_path: Path) -> None:
    _fake_hub_cache(tmp_path, "timm/vit_base_patch16_clip_224.openai", "open_clip_model.safetensors")
    assert resolve_open_clip_weights("clip_b16", "ViT-B-16", "openai", cache_dir=str(tmp_path)).quick_gelu


def test_a_local_checkpoint_path_is_used_as_given(tmp_path: Path) -> None:
    checkpoint = tmp_path / "my_clip.safetensors"
    checkpoint.write_bytes(b"")
    assert resolve_open_clip_weights("clip_b16", "ViT-B-16", str(checkpoint)).checkpoint == str(checkpoint)


# ---- DINOv3.txt: every path is checked before anything is imported ----------------------------
def test_dinov3_without_repo_dir_says_where_to_get_it() -> None:
    message = _fails_fast("dinov3_txt")
    assert "backbone.options.repo_dir" in message and "https://github.com/facebookresearch/dinov3" in message


def test_dinov3_repo_dir_without_hubconf(tmp_path: Path) -> None:
    assert "hubconf.py" in _fails_fast("dinov3_txt", repo_dir=str(tmp_path))


@pytest.mark.parametrize("missing", ["weights", "backbone_weights"])
def test_dinov3_missing_weight_files_name_the_option_and_metas_page(tmp_path: Path, missing: str) -> None:
    (tmp_path / "hubconf.py").write_text("")
    files = {"weights": tmp_path / "dinotxt-a442d8f5.pth", "backbone_weights": tmp_path / "vitl16-8aa4cbdd.pth"}
    for path in files.values():
        path.write_bytes(b"")
    options = {option: str(path) for option, path in files.items()}
    options[missing] = str(tmp_path / "absent.pth")
    message = _fails_fast("dinov3_txt", repo_dir=str(tmp_path), **options)
    assert f"backbone.options.{missing}=" in message and "Meta gates" in message
    assert "https://github.com/facebookresearch/dinov3" in message


def test_dinov3_backbone_file_must_keep_metas_name(tmp_path: Path) -> None:
    (tmp_path / "hubconf.py").write_text("")
    (tmp_path / "dinotxt.pth").write_bytes(b"")
    (tmp_path / "backbone.pth").write_bytes(b"")
    message = _fails_fast(
        "dinov3_txt",
        repo_dir=str(tmp_path),
        weights=str(tmp_path / "dinotxt.pth"),
        backbone_weights=str(tmp_path / "backbone.pth"),
    )
    assert "dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth" in message
