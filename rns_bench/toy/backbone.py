"""``toy_vlm``: the fixed synthetic vision-language backbone of the embedded ``toy`` world.

Image side, per 16×16 patch: 16 statistics (log colour partly white-balanced by the image
mean, luminance contrast, oriented Gabor energies at three scales), standardised and joined
with their 3×3-patch neighbourhood mean and the image mean (a little context, as ViT
features have), then random Fourier features φ (similarity ≈ a Gaussian kernel on the
stats), centred. Two heads read φ:

* a *semantic* head, fitted once at construction by ridge regression from φ of patches of
  "pre-training" scenes (:meth:`ToyWorld.render_described`: every object wears the look its
  name describes) to the class's visual concept — the toy version of contrastive
  pre-training. It is reliable near the described looks and much less so on looks it never
  saw (a class's other modes, casts), as CLIP features are off their training distribution;
* a fixed random *appearance* head that keeps what text does not say (mode, colour, context).

Text side: a name's semantic code (from :class:`ToyWorld`) through two fixed random
projections: the visual concept plus the name's own "wording" direction, so text and image
are aligned only imperfectly. Image and text features each add their own offset direction
(the modality gap), so q·t is low and compressed. No weights on disk: everything is a
deterministic function of ``world_seed`` and ``dim``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from rns_bench.backbones.base import Backbone
from rns_bench.backbones.registry import BACKBONES
from rns_bench.core.errors import InputError, UnknownNameError
from rns_bench.toy.world import PERSONAL_PREFIX, ToyWorld

PATCH = 16
N_RANDOM_FEATURES = 512
KERNEL_WIDTH = 3.0  # Gaussian-kernel bandwidth on the standardised stats; smaller → more local
CONTEXT_WEIGHTS = (0.4, 0.2)  # neighbourhood mean, image mean
WHITE_BALANCE = 0.5  # fraction of the image's mean log colour removed from each patch's
SEMANTIC_WEIGHT = 1.0  # semantic head (≈ unit norm on familiar looks) ...
APPEARANCE_WEIGHT = 0.7  # ... plus the unit-norm appearance head
RIDGE = 1.0  # regularisation of the semantic head's fit
PRETRAIN_SCENES = 48  # described-look scenes the semantic head is fitted on
TEXT_MISALIGNMENT = 1.0  # weight of a name's own wording direction: text ≠ the visual concept
IMAGE_OFFSET = 1.0  # modality gap: norm of the image-only offset before normalising
TEXT_OFFSET = 1.0  # ... and of the text-only one (orthogonal to it)
GABOR_FREQUENCIES = (0.32, 0.16)  # cycles/pixel at full resolution; 0.16 again at half → 0.08
GABOR_ORIENTATIONS = 4
GABOR_SIZE = 13
# Fixed standardisation of the 16 stats (means/spreads measured once on toy train scenes).
# Texture energies end up with spread ≈ 0.45 per dim: 12 of them would otherwise drown the colours.
STAT_MEAN = (-0.48, -0.46, -0.5, -3.0) + (-3.1,) * 4 + (-2.86,) * 4 + (-3.08,) * 4
STAT_SCALE = (0.5, 0.5, 0.5, 0.53) + (0.9,) * 4 + (1.45,) * 4 + (1.8,) * 4
DOMINANT_FRACTION = 0.75  # a pre-training patch needs this share of one class's pixels
TRAINABLE_HEADS = ("semantic_head", "appearance_head")  # what finetuning may change (trainable_copy)


@BACKBONES.register("toy_vlm")
class ToyVLM(Backbone):
    """Seeded CLIP-like backbone for the toy world: (B, 3, H, W) → (B, D, H/16, W/16) unit-norm."""

    name = "toy_vlm"
    patch_size = PATCH

    def __init__(self, world_seed: int = 0, dim: int = 64):
        super().__init__()
        if dim < 8:
            raise InputError(f"toy_vlm needs dim >= 8, got {dim}")
        self.world = ToyWorld(world_seed)
        self.dim = dim
        self._seed = [int(world_seed), dim]
        rng = np.random.default_rng([*self._seed, 0x7F1])
        basis, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
        content = basis[:, 2:]  # shared content lives orthogonal to both offset directions
        code_dim = len(self.world.classes[0].semantic_code)

        def buffer(name: str, array: np.ndarray) -> None:
            self.register_buffer(name, torch.as_tensor(array, dtype=torch.float32), persistent=False)

        buffer("image_offset", basis[:, 0])
        buffer("text_offset", basis[:, 1])
        buffer("concept_projection", content @ rng.normal(size=(dim - 2, code_dim)))
        buffer("wording_projection", content @ rng.normal(size=(dim - 2, code_dim)))
        buffer("rff_weight", rng.normal(size=(N_RANDOM_FEATURES, 3 * len(STAT_MEAN))) / KERNEL_WIDTH)
        buffer("rff_bias", rng.uniform(0, 2 * np.pi, size=N_RANDOM_FEATURES))
        buffer("appearance_head", content @ rng.normal(size=(dim - 2, N_RANDOM_FEATURES)))
        buffer("stat_mean", np.asarray(STAT_MEAN)[None, :, None, None])
        buffer("stat_scale", np.asarray(STAT_SCALE)[None, :, None, None])
        buffer("gabor", _gabor_bank())
        buffer("rff_centre", np.zeros(N_RANDOM_FEATURES))
        buffer("semantic_head", np.zeros((N_RANDOM_FEATURES, dim)))
        self._pretrain()

    # ---- construction: the toy "contrastive pre-training" -------------------------------------
    def _pretrain(self) -> None:
        """Centre φ, then fit the semantic head φ → visual concept on described-look scenes."""
        names = self.world.class_names
        scenes = [
            self.world.render_described(np.random.default_rng([*self._seed, 0xA11, i])) for i in range(PRETRAIN_SCENES)
        ]
        phi, targets = [], []
        for image, label in scenes:
            height, width = (s // PATCH * PATCH for s in label.shape)  # whole patches only
            batch = _to_batch([image[:height, :width]], self.gabor.device)
            phi.append(self._random_features(batch)[0].flatten(0, 1))
            targets.append(torch.as_tensor(_patch_majority(label[:height, :width], len(names))))
        phi, targets = torch.cat(phi), torch.cat(targets)
        # Kernel centring: without it every φ shares one big common direction.
        self.rff_centre = phi.mean(dim=0)
        keep = targets >= 0  # patches that one class clearly dominates
        phi = (phi[keep] - self.rff_centre).double()
        target = self._concepts(names).double()[targets[keep]]
        gram = phi.T @ phi + RIDGE * torch.eye(phi.shape[1], dtype=phi.dtype)
        self.semantic_head = torch.linalg.solve(gram, phi.T @ target).float()

    # ---- image side ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float RGB in [0, 1], H and W multiples of 16 → (B, D, H/16, W/16) unit-norm."""
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] % PATCH or images.shape[3] % PATCH:
            raise InputError(
                f"toy_vlm expects (B, 3, H, W) with H, W multiples of {PATCH}, got "
                f"{tuple(images.shape)}; pad the images right/bottom first"
            )
        phi = self._random_features(images) - self.rff_centre
        semantic = phi @ self.semantic_head
        appearance = F.normalize(phi @ self.appearance_head.T, dim=-1)
        content = F.normalize(SEMANTIC_WEIGHT * semantic + APPEARANCE_WEIGHT * appearance, dim=-1)
        features = F.normalize(content + IMAGE_OFFSET * self.image_offset, dim=-1)
        return features.permute(0, 3, 1, 2).contiguous()

    def _random_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → (B, h, w, N_RANDOM_FEATURES) random Fourier features of the patch stats."""
        images = images.to(self.gabor.device, torch.float32)
        stats = (_patch_stats(images, self.gabor) - self.stat_mean) / self.stat_scale
        neighbourhood = F.avg_pool2d(stats, 3, stride=1, padding=1, count_include_pad=False)
        whole = stats.mean(dim=(2, 3), keepdim=True).expand_as(stats)
        inputs = torch.cat([stats, CONTEXT_WEIGHTS[0] * neighbourhood, CONTEXT_WEIGHTS[1] * whole], dim=1)
        phases = torch.einsum("bchw,fc->bhwf", inputs, self.rff_weight) + self.rff_bias
        return torch.cos(phases) * np.sqrt(2.0 / N_RANDOM_FEATURES)

    def trainable_copy(self) -> ToyVLM:
        """A copy whose two heads (semantic and appearance) are parameters: the toy "vision
        encoder" has no other learnable weights (its patch statistics are fixed filters)."""
        trainable = copy.deepcopy(self)
        for name in TRAINABLE_HEADS:
            value = getattr(trainable, name)
            delattr(trainable, name)  # a buffer cannot be re-registered as a parameter under its name
            trainable.register_parameter(name, torch.nn.Parameter(value.clone()))
        return trainable

    # ---- text side ----------------------------------------------------------------------------
    @torch.no_grad()
    def encode_text(self, class_names: list[str]) -> torch.Tensor:
        """K toy class names → (K, D) unit-norm text features; unknown names list the valid ones."""
        return F.normalize(self._text_content(class_names) + TEXT_OFFSET * self.text_offset, dim=-1)

    def _text_content(self, class_names: list[str]) -> torch.Tensor:
        """K names → (K, D) unit text content: the visual concept, imperfectly worded."""
        codes = self._codes(class_names)
        wording = F.normalize(codes @ self.wording_projection.T, dim=-1)
        return F.normalize(self._concepts(class_names) + TEXT_MISALIGNMENT * wording, dim=-1)

    def _concepts(self, class_names: list[str]) -> torch.Tensor:
        """K names → (K, D) unit visual concepts: what the semantic head maps described looks to."""
        return F.normalize(self._codes(class_names) @ self.concept_projection.T, dim=-1)

    def _codes(self, class_names: list[str]) -> torch.Tensor:
        # "my dog" means what "dog" means (a CLIP text encoder puts the two close together): a personal
        # instance is told apart from its class by visual support alone (paper Fig. 7).
        meant = [name.removeprefix(PERSONAL_PREFIX) for name in class_names]
        valid = self.world.class_names
        for name, base in zip(class_names, meant, strict=True):
            if base not in valid:
                error = UnknownNameError("toy class name", name, valid + [f"{PERSONAL_PREFIX}<class>"])
                error.args = (
                    f"{error.args[0]}. The toy_vlm backbone knows only the synthetic toy world's classes; "
                    "for another dataset choose a real backbone: make bench DATASET=<key> BACKBONE=clip_b16 "
                    "(or backbone=clip_b16; clip_tiny / random_vlm for a quick look without weights)",
                )
                raise error
        codes = np.stack([self.world.semantic_code(name) for name in meant])
        return torch.as_tensor(codes, dtype=torch.float32, device=self.concept_projection.device)


def _to_batch(images: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """N × (H, W, 3) uint8 → (N, 3, H, W) float [0, 1]."""
    return torch.as_tensor(np.stack(images), device=device).permute(0, 3, 1, 2).float() / 255.0


def _patch_majority(label: np.ndarray, num_classes: int) -> np.ndarray:
    """(h·16, w·16) uint8 label → (h·w,) int64 dominant class per patch, −1 where none dominates."""
    height, width = label.shape[0] // PATCH, label.shape[1] // PATCH
    blocks = label.reshape(height, PATCH, width, PATCH).transpose(0, 2, 1, 3).reshape(height * width, -1)
    counts = np.stack([(blocks == c).sum(axis=1) for c in range(num_classes)], axis=1)
    dominant = counts.argmax(axis=1)
    return np.where(counts.max(axis=1) >= DOMINANT_FRACTION * PATCH * PATCH, dominant, -1).astype(np.int64)


def _gabor_bank() -> np.ndarray:
    """(2·F·O, 1, S, S) zero-mean, unit-norm cosine and sine Gabor kernels."""
    half = GABOR_SIZE // 2
    ys, xs = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    kernels = []
    for frequency in GABOR_FREQUENCIES:
        sigma = 0.45 / frequency
        envelope = np.exp(-(xs**2 + ys**2) / (2 * sigma**2))
        for k in range(GABOR_ORIENTATIONS):
            angle = np.pi * k / GABOR_ORIENTATIONS
            along = xs * np.cos(angle) + ys * np.sin(angle)
            for wave in (np.cos, np.sin):
                kernel = envelope * wave(2 * np.pi * frequency * along)
                kernel -= envelope * kernel.sum() / envelope.sum()  # no response to flat regions
                kernels.append(kernel / np.linalg.norm(kernel))
    return np.stack(kernels)[:, None]


def _patch_stats(images: torch.Tensor, gabor: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) → (B, 16, H/16, W/16): colour, log luminance std, 12 log Gabor energies."""
    # Log colour, partly white-balanced by the image mean (gray world): robust to casts, not immune.
    log_rgb = torch.log(F.avg_pool2d(images, PATCH) + 0.03)
    rgb = log_rgb - WHITE_BALANCE * torch.log(images.mean(dim=(2, 3), keepdim=True) + 0.03)
    luminance = (images * images.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
    variance = F.avg_pool2d(luminance**2, PATCH) - F.avg_pool2d(luminance, PATCH) ** 2
    contrast = torch.log(variance.clamp_min(0).sqrt() + 0.01)
    fine = _gabor_energy(luminance, gabor, PATCH)  # 0.32 and 0.16 cycles/pixel
    half = F.avg_pool2d(luminance, 2)
    coarse = _gabor_energy(half, gabor[2 * GABOR_ORIENTATIONS :], PATCH // 2)  # 0.08 cycles/pixel
    return torch.cat([rgb, contrast, fine, coarse], dim=1)


def _gabor_energy(luminance: torch.Tensor, kernels: torch.Tensor, pool: int) -> torch.Tensor:
    """(B, 1, H, W) → (B, n_kernels / 2, H/pool, W/pool) log mean quadrature energy per patch."""
    padded = F.pad(luminance, (GABOR_SIZE // 2,) * 4, mode="replicate")
    responses = F.conv2d(padded, kernels)
    energy = (responses[:, 0::2] ** 2 + responses[:, 1::2] ** 2).sqrt()
    return torch.log(F.avg_pool2d(energy, pool) + 0.01)
