"""``dinov3_txt``: DINOv3 ViT-L/16 with the dino.txt text alignment (features.md, "DINOv3.txt ViT-L/16").

Loaded with ``torch.hub.load(repo_dir, "dinov3_vitl16_dinotxt_tet1280d20h24l", source="local",
weights=..., backbone_weights=...)`` from a local clone of facebookresearch/dinov3 and weight files
the user downloaded (Meta gates the downloads, so every path is a config value, checked before
anything is imported or built).

* Dense features: the **backbone's** final normalised patch tokens (``x_norm_patchtokens`` of
  ``model.visual_model.backbone.forward_features``, 1024-d), not the dino.txt vision head's.
  RoPE positions: any multiple-of-16 input size works as is.
* Text: the dino.txt text embedding is 2048-d, [class-token-aligned | patch-aligned]; keep the
  patch-aligned half ``[1024:]`` of each prompt embedding, then the template ensemble (normalise,
  average over the 80 templates, normalise).
* Pixels: ImageNet mean/std.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from rns_bench.backbones.dense_vlm import DenseVLM
from rns_bench.backbones.registry import BACKBONES
from rns_bench.backbones.weight_files import checkpoint_hash_suffix, require_file
from rns_bench.core.errors import InputError
from rns_bench.core.provenance import git_revision

HUB_ENTRY = "dinov3_vitl16_dinotxt_tet1280d20h24l"
PATCH_ALIGNED = slice(1024, 2048)  # second half of the dino.txt text embedding
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_HELP = (
    "Meta gates the DINOv3 downloads: request access on the page linked from "
    "https://github.com/facebookresearch/dinov3 (https://ai.meta.com/resources/models-and-libraries/"
    "dinov3-downloads/), then download the file with the emailed URL and keep its original name."
)
WEIGHT_FILES = {  # option → (what, the file Meta names it)
    "weights": (
        "the dino.txt vision head and text encoder",
        "dinov3_vitl16_dinotxt_vision_head_and_text_encoder-a442d8f5.pth",
    ),
    "backbone_weights": ("the DINOv3 ViT-L/16 backbone", "dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth"),
}


@BACKBONES.register("dinov3_txt")
class DINOv3Txt(DenseVLM):
    """DINOv3.txt ViT-L/16: (B, 3, H, W) → (B, 1024, H/16, W/16), names → (K, 1024); unit norm.

    Options: ``repo_dir`` a local clone of facebookresearch/dinov3; ``weights`` the dino.txt head
    and text encoder file; ``backbone_weights`` the ViT-L/16 backbone file; ``bpe_path`` the CLIP BPE
    vocabulary (default: the copy open_clip ships, ``bpe_simple_vocab_16e6.txt.gz``, the same file
    name DINOv3 downloads); ``device``.
    """

    name = "dinov3_txt"

    def __init__(
        self,
        repo_dir: str | None = None,
        weights: str | None = None,
        backbone_weights: str | None = None,
        bpe_path: str | None = None,
        device: str = "auto",
    ):
        files = locate_dinov3_files(repo_dir, weights, backbone_weights, bpe_path)
        model, tokenizer = _load_from_hub(files)
        backbone = model.visual_model.backbone
        super().__init__(
            model,
            tokenizer,
            IMAGENET_MEAN,
            IMAGENET_STD,
            patch_size=backbone.patch_size,
            dim=backbone.embed_dim,
            device=device,
        )
        self._commit = git_revision(files["repo_dir"])

    def provenance(self) -> dict[str, str | None]:
        """The facebookresearch/dinov3 commit of ``repo_dir`` (None when it is not a git checkout).
        The release loads a user's ``./dinov3`` checkout and pins no commit (docs/faithfulness.md, "DINOv3.txt")."""
        return {"dinov3_commit": self._commit}

    def dense_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised pixels → (B, H/16, W/16, 1024) final-normed backbone patch tokens."""
        grid = (pixels.shape[2] // self.patch_size, pixels.shape[3] // self.patch_size)
        tokens = self.model.visual_model.backbone.forward_features(pixels)["x_norm_patchtokens"]
        return tokens.reshape(pixels.shape[0], *grid, -1)

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        """P prompts → (P, 1024): the patch-aligned half of each dino.txt text embedding."""
        encoded = self.model.encode_text(self.tokenizer.tokenize(prompts).to(self.device))
        if isinstance(encoded, tuple):  # some dinov3 revisions also return text patch tokens
            encoded = encoded[0]
        return encoded[:, PATCH_ALIGNED].float()


def locate_dinov3_files(
    repo_dir: str | None, weights: str | None, backbone_weights: str | None, bpe_path: str | None
) -> dict[str, Path]:
    """Every file the hub entry needs, checked to exist (fast, nothing imported), else an InputError."""
    if not repo_dir:
        raise InputError(
            "dinov3_txt: set backbone.options.repo_dir=/path/to/dinov3, a local clone of "
            "https://github.com/facebookresearch/dinov3 (`git clone https://github.com/facebookresearch/"
            "dinov3`)"
        )
    repo = Path(repo_dir).expanduser()
    if not (repo / "hubconf.py").is_file():
        raise InputError(
            f"dinov3_txt: backbone.options.repo_dir={repo_dir!r} has no hubconf.py ({repo / 'hubconf.py'}"
            f" is missing); point it at a clone of https://github.com/facebookresearch/dinov3"
        )
    files = {"repo_dir": repo}
    for option, value in (("weights", weights), ("backbone_weights", backbone_weights)):
        what, file_name = WEIGHT_FILES[option]
        files[option] = require_file("dinov3_txt", option, value, f"{what}, {file_name}", WEIGHTS_HELP)
    if checkpoint_hash_suffix(files["backbone_weights"]) is None:  # dinov3_vitl16 reads the hash from the name
        raise InputError(
            f"dinov3_txt: backbone.options.backbone_weights={backbone_weights!r} must keep Meta's file "
            f"name ending in -<8 hex digits>.pth (e.g. {WEIGHT_FILES['backbone_weights'][1]}); the "
            f"dinov3 hub code reads the variant from it"
        )
    files["bpe_path"] = require_file(
        "dinov3_txt",
        "bpe_path",
        bpe_path or _bundled_bpe_vocabulary(),
        "the CLIP BPE vocabulary bpe_simple_vocab_16e6.txt.gz",
        "Download https://dl.fbaipublicfiles.com/dinov3/thirdparty/bpe_simple_vocab_16e6"
        ".txt.gz, or install open_clip_torch, which ships it.",
    )
    return files


def _bundled_bpe_vocabulary() -> str | None:
    """open_clip's copy of the CLIP BPE vocabulary, found without importing open_clip."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz")


def _load_from_hub(files: dict[str, Path]) -> tuple[torch.nn.Module, object]:
    """torch.hub.load of the dino.txt entry from the local clone → (model, tokenizer)."""
    kwargs = {"source": "local", "weights": str(files["weights"]), "backbone_weights": str(files["backbone_weights"])}
    # The vocabulary argument was renamed across dinov3 revisions (bpe_path → bpe_path_or_url).
    for vocabulary_argument in ("bpe_path_or_url", "bpe_path"):
        try:
            return torch.hub.load(
                str(files["repo_dir"]), HUB_ENTRY, **kwargs, **{vocabulary_argument: str(files["bpe_path"])}
            )
        except TypeError as error:
            if f"'{vocabulary_argument}'" not in str(error):
                raise
        except RuntimeError as error:
            if "Cannot find callable" not in str(error):
                raise
            raise InputError(
                f"dinov3_txt: {files['repo_dir']}/hubconf.py has no entry {HUB_ENTRY}; update the "
                f"dinov3 clone (`git pull`)"
            ) from None
    raise InputError(
        f"dinov3_txt: the hub entry {HUB_ENTRY} in {files['repo_dir']} accepts neither bpe_path_or_url "
        f"nor bpe_path; update the dinov3 clone (`git pull`)"
    )
