"""The synthetic world behind the embedded ``toy`` benchmark: classes, looks, meanings, scenes.

Everything is a deterministic function of one integer seed. 16 classes (``classes/toy.txt``,
class 0 = "background"). Each foreground class has 2–3 appearance *modes* around a canonical
one (a colour pair of its own hue, a texture — sine, stripes, checker or smooth noise — with a
frequency and orientation, a contrast, a pixel grain) and a *semantic code* (what its name
means: a super-category part shared with e.g. the other animals, plus its own part). A scene
is a background of one or two regions plus 1–4 objects. The matching ``toy_vlm`` backbone
turns 16×16 patches into CLIP-like features; its semantic head is "pre-trained" on scenes
where every object wears the look its name describes (:meth:`ToyWorld.render_described`).
Properties, as real vision-language features have them:

* **Modality gap.** Text and image features each carry their own offset direction, so raw
  q·t cosines are low and compressed (≈ 0 on average, ≈ 0.2 at the best class) while patches
  of one class have image·image cosines ≈ 0.85; the argmax of q·t still carries the class.
* **Text-confusable pair** ("sofa", "couch"): same meaning (text cosine > 0.95), looks of
  opposite hues; only visual support tells them apart. Names in one super-category (the
  animals, the vehicles, ...) are also closer than unrelated names.
* **Appearance-confusable pair** ("zebra", "crosswalk"): the same looks seen equally often
  (class-mean image cosine > 0.95), distinct meanings (text cosine ≤ 0.6, like unrelated
  names). They prefer different background habitats and the backbone sees a little context,
  so support can partly separate them.
* **Text describes a typical look, not every look.** A name is tied to its class's canonical
  mode, slightly idealised (colour and frequency a little off); other modes are off the
  pre-training distribution, so zero-shot misses them and visual support must cover them.
* **Appearance shift between splits.** Train (support) and val (test) draw the modes with
  different probabilities; every image gets a global colour cast, brightness and noise whose
  distribution differs (val: a systematic cast, darker, noisier).
* **Diverse background.** Class 0 has 6 greyer, smoother modes; a scene's background is one
  or two of them (a tilted, wavy horizon), biased towards the habitat of its main object,
  under an illumination ramp.
* **Clutter.** Small unlabelled distractor blobs in object-like looks (they are background),
  an occasional small labelled object, occlusion, sensor noise and JPEG compression.
* **VOC-like labels.** A 255 ignore band 2 px either side of every label boundary; image sides
  vary in 160..256 px and are usually not multiples of 16.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources

import numpy as np
from PIL import Image, ImageDraw

from rns_bench.core.errors import InputError
from rns_bench.core.labels import IGNORE_INDEX

CLASS_FILE = "toy.txt"
SPLITS = ("train", "val")
TEXT_TWINS = {"couch": "sofa"}  # name → class whose meaning it shares (text-confusable)
LOOK_TWINS = {"crosswalk": "zebra"}  # name → class whose looks it copies (appearance-confusable)
# Names in one super-category mean related things (text cosines well above unrelated pairs).
SUPERCATEGORY = {
    **dict.fromkeys(("zebra", "cat", "dog", "bird", "horse", "sheep"), "animal"),
    **dict.fromkeys(("car", "bus", "boat"), "vehicle"),
    **dict.fromkeys(("sofa", "couch"), "furniture"),
    **dict.fromkeys(("tree", "apple"), "plant"),
}
GROUP_SHARE = 1.0  # weight of the super-category part of a semantic code (own part: 1)
PATTERNS = ("sine", "stripes", "checker", "noise")
N_BACKGROUND_MODES = 6
SEMANTIC_CODE_DIM = 32
SIDE_RANGE = (160, 256)  # image sides, inclusive
BOUNDARY_RADIUS = 2  # ignore band: pixels within 2 px (Chebyshev) of a label change
OBJECT_SCALE = (0.2, 0.42)  # object radius as a fraction of the image's short side
SMALL_OBJECT_SCALE = (0.03, 0.06)
CLUTTER_COUNT = (2, 7)  # unlabelled distractor blobs per scene, [low, high)
CLUTTER_RADIUS = (2.0, 6.0)  # pixels: mostly below one 16 px patch
PERSONAL_PREFIX = "my "  # "my <class>": one particular object of <class>, same meaning (Fig. 7)
MODE_SPREAD = (0.12, 0.2, 0.3)  # other modes vs the canonical one: colour, log-frequency, angle std


@dataclass(frozen=True)
class Appearance:
    """One look: colours in [0, 1] RGB, texture frequency in cycles/pixel, orientation in rad."""

    colour: tuple[float, float, float]
    texture_colour: tuple[float, float, float]
    pattern: str
    frequency: float
    orientation: float
    contrast: float
    grain: float


@dataclass(frozen=True)
class LookRanges:
    """Ranges looks are drawn from: colour as HSV saturation/value, then texture and grain."""

    saturation: tuple[float, float]
    value: tuple[float, float]
    texture_offset: tuple[float, float]  # RGB distance of the texture colour from the base colour
    patterns: tuple[str, ...]
    frequency: tuple[float, float]  # cycles/pixel, drawn log-uniformly
    contrast: tuple[float, float]
    grain: tuple[float, float]


# Objects are saturated and busy; backgrounds (sky, walls, ground) greyer, smoother, softer.
OBJECT_LOOKS = LookRanges(
    saturation=(0.45, 0.9),
    value=(0.35, 0.95),
    texture_offset=(0.2, 0.5),
    patterns=PATTERNS,
    frequency=(0.05, 0.3),
    contrast=(0.5, 1.0),
    grain=(0.005, 0.04),
)
BACKGROUND_LOOKS = LookRanges(
    saturation=(0.05, 0.4),
    value=(0.3, 0.9),
    texture_offset=(0.1, 0.25),
    patterns=("noise", "sine"),
    frequency=(0.02, 0.08),
    contrast=(0.2, 0.6),
    grain=(0.005, 0.03),
)


@dataclass(frozen=True)
class ToyClass:
    """A class: its looks, how often each split shows each look, its habitat, its meaning."""

    index: int
    name: str
    modes: tuple[Appearance, ...]
    mode_probs: dict[str, tuple[float, ...]]  # split → probability of each mode
    habitat: int  # preferred background mode (index into the background class's modes)
    text_look: Appearance  # the look its name describes
    semantic_code: tuple[float, ...]  # (SEMANTIC_CODE_DIM,) unit vector: meaning beyond looks


@dataclass(frozen=True)
class Photometry:
    """Per-split distribution of the global per-image colour cast, brightness and noise."""

    cast_mean: tuple[float, float, float]
    cast_std: float
    brightness: tuple[float, float]
    noise_std: float


DESCRIBED_PHOTOMETRY = Photometry((1.0, 1.0, 1.0), 0.03, (0.9, 1.05), 0.015)


def toy_class_names() -> list[str]:
    """The class list (package data ``rns_bench/data/classes/toy.txt``), class 0 first."""
    text = resources.files("rns_bench.data").joinpath("classes", CLASS_FILE).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


class ToyWorld:
    """All looks, semantics and the scene renderer of the toy benchmark for one ``seed``."""

    def __init__(self, seed: int):
        if int(seed) < 0:
            raise InputError(f"toy world seed must be a non-negative integer, got {seed}")
        self.seed = int(seed)
        self.class_names = toy_class_names()
        rng = np.random.default_rng([self.seed, 0x70E])
        self.classes = self._make_classes(rng)
        self.photometry = _make_photometry(rng)

    # ---- construction -------------------------------------------------------------------
    def _make_classes(self, rng: np.random.Generator) -> tuple[ToyClass, ...]:
        names = self.class_names
        modes = self._make_modes(rng)
        habitats = self._habitats(rng)
        groups = {group: rng.normal(size=SEMANTIC_CODE_DIM) for group in sorted(set(SUPERCATEGORY.values()))}
        codes = {}
        classes = []
        for index, name in enumerate(names):
            twin = TEXT_TWINS.get(name)
            if twin is None:  # meaning = its super-category's + its own
                own = _unit(rng.normal(size=SEMANTIC_CODE_DIM))
                group = SUPERCATEGORY.get(name)
                shared = _unit(groups[group]) if group else np.zeros(SEMANTIC_CODE_DIM)
                codes[index] = _unit(GROUP_SHARE * shared + own)
                text_look = _perturb(rng, modes[index][0], colour=0.08, frequency=0.25, angle=0.15)
            else:  # same meaning: the twin's description and (almost) its code
                source = classes[names.index(twin)]
                noise = 0.05 * rng.normal(size=SEMANTIC_CODE_DIM)
                codes[index] = _unit(np.asarray(source.semantic_code) + noise)
                text_look = source.text_look
            look_twin = LOOK_TWINS.get(name)  # a look twin shows each mode as often, too
            probs = (
                _mode_probs(rng, len(modes[index])) if look_twin is None else classes[names.index(look_twin)].mode_probs
            )
            classes.append(
                ToyClass(index, name, modes[index], probs, habitats[index], text_look, tuple(codes[index].tolist()))
            )
        return tuple(classes)

    def _make_modes(self, rng: np.random.Generator) -> list[tuple[Appearance, ...]]:
        """Appearance modes per class: 6 background looks, then 2–3 related looks per object."""
        names = self.class_names
        modes = [tuple(_random_appearance(rng, BACKGROUND_LOOKS) for _ in range(N_BACKGROUND_MODES))]
        # Canonical hues spread evenly over the colour wheel (random order) so no two classes
        # collide by chance; modes and instances still overlap their neighbours.
        n_objects = len(names) - 1
        hues = (rng.permutation(n_objects) + rng.uniform(-0.25, 0.25, size=n_objects)) / n_objects
        for name, twin in TEXT_TWINS.items():  # same meaning, opposite colours: swap hue slots
            mine, theirs = names.index(name) - 1, names.index(twin) - 1
            opposite = int(np.argmin(np.abs((hues - hues[theirs]) % 1.0 - 0.5)))
            hues[[mine, opposite]] = hues[[opposite, mine]]
        for index, name in enumerate(names[1:], start=1):
            twin = LOOK_TWINS.get(name)
            if twin is not None:  # the twin's looks, barely changed
                modes.append(
                    tuple(_perturb(rng, m, colour=0.03, frequency=0.08, angle=0.12) for m in modes[names.index(twin)])
                )
            else:
                modes.append(_class_modes(rng, int(rng.integers(2, 4)), hues[index - 1] % 1.0))
        return modes

    def _habitats(self, rng: np.random.Generator) -> list[int]:
        """Preferred background mode per class; look twins live apart, text twins together."""
        names = self.class_names
        habitats = [0] + [int(h) for h in rng.integers(0, N_BACKGROUND_MODES, size=len(names) - 1)]
        for name, twin in TEXT_TWINS.items():
            habitats[names.index(name)] = habitats[names.index(twin)]
        for name, twin in LOOK_TWINS.items():
            other = habitats[names.index(twin)]
            habitats[names.index(name)] = (
                other + 1 + int(rng.integers(0, N_BACKGROUND_MODES - 1))
            ) % N_BACKGROUND_MODES
        return habitats

    # ---- public queries -----------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_index(self, name: str) -> int:
        try:
            return self.class_names.index(name)
        except ValueError:
            raise InputError(f"unknown toy class {name!r}; valid: {', '.join(self.class_names)}") from None

    def semantic_code(self, name: str) -> np.ndarray:
        """(SEMANTIC_CODE_DIM,) unit vector: what the class name means (text twins share it)."""
        return np.asarray(self.classes[self.class_index(name)].semantic_code)

    def described_look(self, name: str) -> Appearance:
        """The look a class name evokes: its canonical mode, slightly idealised."""
        return self.classes[self.class_index(name)].text_look

    # ---- scenes -------------------------------------------------------------------------
    def personal_look(self, name: str) -> Appearance:
        """The look of one particular object of class ``name`` ("my <name>", Fig. 7): the class's
        canonical colours, frequency and orientation in a print no mode of the class shows (checker;
        stripes for a checkered class). Close enough to be taken for the class without its own
        support, distinct enough to be told apart with it."""
        cls = self.classes[self.class_index(name)]
        if cls.index == 0:
            raise InputError("a personal instance needs a foreground class, not the background")
        canonical = cls.modes[0]
        return replace(canonical, pattern="checker" if canonical.pattern != "checker" else "stripes")

    def render(
        self,
        rng: np.random.Generator,
        split: str,
        required_class: int | None = None,
        personal: tuple[Appearance, int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One scene of a split → (image (H, W, 3) uint8 RGB, label (H, W) uint8 in 0..K−1 or 255).

        ``required_class`` (a foreground index) is drawn as the main object, on top. ``personal``
        (look, label value) adds one more object in that look over everything, labelled with the value
        (a personal instance: :meth:`personal_look`); without it the scene is what it always was.
        """
        if split not in SPLITS:
            raise InputError(f"unknown toy split {split!r}; valid: {', '.join(SPLITS)}")

        def pick(cls: ToyClass) -> Appearance:
            return cls.modes[int(rng.choice(len(cls.modes), p=cls.mode_probs[split]))]

        return self._render(rng, pick, self.photometry[split], required_class, personal)

    def render_described(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A scene whose objects wear the looks their names describe, in neutral light: what
        the image–caption data a VLM is pre-trained on shows (used by ``toy_vlm``, never a split)."""

        def pick(cls: ToyClass) -> Appearance:
            return cls.modes[int(rng.integers(len(cls.modes)))] if cls.index == 0 else cls.text_look

        return self._render(rng, pick, DESCRIBED_PHOTOMETRY, None)

    def _render(
        self,
        rng: np.random.Generator,
        pick: Callable[[ToyClass], Appearance],
        photometry: Photometry,
        required_class: int | None,
        personal: tuple[Appearance, int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        height, width = (int(s) for s in rng.integers(SIDE_RANGE[0], SIDE_RANGE[1] + 1, size=2))
        objects = [int(c) for c in rng.integers(1, self.num_classes, size=int(rng.integers(1, 5)))]
        if required_class is not None:
            objects[-1] = int(required_class)
        canvas = np.zeros((height, width, 3), np.float32)
        label = np.zeros((height, width), np.uint8)
        self._paint_background(rng, canvas, pick, self.classes[objects[-1]].habitat)
        _paint_clutter(rng, canvas)
        if rng.random() < 0.3:  # a small labelled object, often below patch size
            objects.insert(0, int(rng.integers(1, self.num_classes)))
            scales = [SMALL_OBJECT_SCALE] + [OBJECT_SCALE] * (len(objects) - 1)
        else:
            scales = [OBJECT_SCALE] * len(objects)
        for cls_index, scale in zip(objects, scales, strict=True):
            cls = self.classes[cls_index]
            mask = _object_mask(rng, label.shape, scale)
            _paint(canvas, mask, pick(cls), rng)
            label[mask] = cls.index
        if personal is not None:  # drawn after every other object: the rng stream of a plain scene is unchanged
            look, value = personal
            mask = _object_mask(rng, label.shape, OBJECT_SCALE)
            _paint(canvas, mask, look, rng)
            label[mask] = value
        image = _photometric(rng, canvas, photometry)
        return image, _ignore_boundaries(label)

    def _paint_background(
        self, rng: np.random.Generator, canvas: np.ndarray, pick: Callable[[ToyClass], Appearance], habitat: int
    ) -> None:
        """One or two background regions; the first is the main object's habitat 70 % of the time."""
        background = self.classes[0]
        first = background.modes[habitat] if rng.random() < 0.7 else pick(background)
        _paint(canvas, np.ones(canvas.shape[:2], bool), first, rng)
        if rng.random() < 0.6:  # a second region below a tilted, wavy horizon
            height, width = canvas.shape[:2]
            xs = np.arange(width)
            horizon = (
                height * rng.uniform(0.3, 0.7)
                + (xs - width / 2) * rng.uniform(-0.4, 0.4)
                + rng.uniform(2, 8) * np.sin(xs * rng.uniform(0.02, 0.08) + rng.uniform(0, 6.3))
            )
            below = np.arange(height)[:, None] > horizon[None, :]
            _paint(canvas, below, pick(background), rng)


# ---- appearance sampling ----------------------------------------------------------------------
def _random_appearance(rng: np.random.Generator, ranges: LookRanges, hue: float | None = None) -> Appearance:
    hue = rng.uniform(0, 1) if hue is None else hue
    colour = np.asarray(colorsys.hsv_to_rgb(hue, rng.uniform(*ranges.saturation), rng.uniform(*ranges.value)))
    offset = _unit(rng.normal(size=3)) * rng.uniform(*ranges.texture_offset)
    return Appearance(
        colour=tuple(colour.tolist()),
        texture_colour=tuple(np.clip(colour + offset, 0, 1).tolist()),
        pattern=str(rng.choice(ranges.patterns)),
        frequency=float(np.exp(rng.uniform(*np.log(ranges.frequency)))),
        orientation=float(rng.uniform(0, np.pi)),
        contrast=float(rng.uniform(*ranges.contrast)),
        grain=float(rng.uniform(*ranges.grain)),
    )


def _class_modes(rng: np.random.Generator, n_modes: int, hue: float) -> tuple[Appearance, ...]:
    """A canonical look of the given hue and variants of it: same texture kind, other colours,
    similar frequency."""
    canonical = _random_appearance(rng, OBJECT_LOOKS, hue)
    colour, frequency, angle = MODE_SPREAD
    variants = [_perturb(rng, canonical, colour=colour, frequency=frequency, angle=angle) for _ in range(n_modes - 1)]
    return (canonical, *variants)


def _perturb(rng: np.random.Generator, look: Appearance, colour: float, frequency: float, angle: float) -> Appearance:
    shift = rng.normal(scale=colour, size=3)
    return replace(
        look,
        colour=tuple(np.clip(np.asarray(look.colour) + shift, 0, 1).tolist()),
        texture_colour=tuple(np.clip(np.asarray(look.texture_colour) + shift, 0, 1).tolist()),
        frequency=float(look.frequency * np.exp(rng.normal(scale=frequency))),
        orientation=float((look.orientation + rng.normal(scale=angle)) % np.pi),
    )


def _mode_probs(rng: np.random.Generator, n_modes: int) -> dict[str, tuple[float, ...]]:
    """Mode 0 (the described one) is favoured in train; val re-draws the odds around train's."""
    logits = rng.normal(size=n_modes)
    logits[0] += 1.0
    shifted = logits + rng.normal(scale=1.0, size=n_modes)
    return {"train": tuple(_softmax(logits).tolist()), "val": tuple(_softmax(shifted).tolist())}


def _make_photometry(rng: np.random.Generator) -> dict[str, Photometry]:
    """Train: mild random casts. Val: a systematic cast of norm ≈ 0.1, darker, noisier."""
    val_cast = 1.0 + _unit(rng.normal(size=3)) * 0.1
    return {
        "train": Photometry((1.0, 1.0, 1.0), 0.04, (0.9, 1.08), 0.015),
        "val": Photometry(tuple(val_cast.tolist()), 0.06, (0.78, 1.05), 0.025),
    }


# ---- painting -------------------------------------------------------------------------------
def _paint(canvas: np.ndarray, mask: np.ndarray, look: Appearance, rng: np.random.Generator) -> None:
    """Paint ``look`` into canvas (H, W, 3) float [0, 1] where mask (H, W) bool, in its bounding box."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    look = _perturb(rng, look, colour=0.04, frequency=0.1, angle=0.2)  # every instance varies a little
    ys = np.arange(top, bottom, dtype=np.float32)[:, None]
    xs = np.arange(left, right, dtype=np.float32)[None, :]
    weight = (look.contrast * _pattern(rng, look, ys, xs))[..., None]
    base, second = np.asarray(look.colour, np.float32), np.asarray(look.texture_colour, np.float32)
    patch = (1 - weight) * base + weight * second
    patch += look.grain * rng.standard_normal(patch.shape[:2], dtype=np.float32)[..., None]
    ramp = rng.normal(scale=0.004, size=2).astype(np.float32)  # shading across the instance
    patch *= (1 + ramp[0] * (ys - ys.mean()) + ramp[1] * (xs - xs.mean()))[..., None]
    box = canvas[top:bottom, left:right]
    inside = mask[top:bottom, left:right]
    box[inside] = patch[inside]


def _pattern(rng: np.random.Generator, look: Appearance, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(h, w) float in [0, 1] texture of the look at pixel rows ys (h, 1) and columns xs (1, w)."""
    phase = rng.uniform(0, 2 * np.pi, size=2)
    along = xs * np.cos(look.orientation) + ys * np.sin(look.orientation)
    across = -xs * np.sin(look.orientation) + ys * np.cos(look.orientation)
    wave = np.sin(2 * np.pi * look.frequency * along + phase[0])
    if look.pattern == "sine":
        return 0.5 + 0.5 * wave
    if look.pattern == "stripes":
        return (wave > 0).astype(np.float32)
    if look.pattern == "checker":
        return (wave * np.sin(2 * np.pi * look.frequency * across + phase[1]) > 0).astype(np.float32)
    return _smooth_noise(rng, (ys.shape[0], xs.shape[1]), look.frequency)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], frequency: float) -> np.ndarray:
    """Value noise with blobs about 1/frequency pixels wide, in [0, 1]."""
    coarse = (max(2, int(shape[0] * frequency) + 2), max(2, int(shape[1] * frequency) + 2))
    grid = rng.uniform(0, 1, size=coarse).astype(np.float32)
    smooth = np.asarray(Image.fromarray(grid, mode="F").resize((shape[1], shape[0]), Image.BICUBIC))
    return np.clip(smooth, 0, 1)


def _object_mask(rng: np.random.Generator, size: tuple[int, int], scale: tuple[float, float]) -> np.ndarray:
    """(H, W) bool: one object whose radius is a ``scale`` fraction of the short side."""
    height, width = size
    centre = (rng.uniform(0.12, 0.88) * width, rng.uniform(0.12, 0.88) * height)
    return _shape_mask(rng, size, centre, rng.uniform(*scale) * min(height, width))


def _shape_mask(
    rng: np.random.Generator, size: tuple[int, int], centre: tuple[float, float], radius: float
) -> np.ndarray:
    """(H, W) bool: an ellipse, a polygon or a wobbly blob around centre (x, y)."""
    kind = rng.integers(0, 3)
    if kind == 0:  # ellipse
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        axes, tilt = radius * np.array([1.0, rng.uniform(0.5, 1.0)]), rng.uniform(0, np.pi)
        local = np.stack([axes[0] * np.cos(angles), axes[1] * np.sin(angles)], axis=1)
        rotation = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
        points = local @ rotation.T
    else:
        if kind == 1:  # polygon with 5–8 corners
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=int(rng.integers(5, 9))))
            radii = radius * rng.uniform(0.65, 1.1, size=angles.size)
        else:  # blob: a radius with a few low harmonics
            angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
            harmonics = sum(rng.uniform(0, 0.18) * np.cos(k * angles + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4))
            radii = radius * (1 + harmonics)
        points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    points = points + np.asarray(centre)
    image = Image.new("L", (size[1], size[0]), 0)
    ImageDraw.Draw(image).polygon([(float(x), float(y)) for x, y in points], fill=1)
    return np.asarray(image, dtype=bool)


def _paint_clutter(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A few small unlabelled blobs of random looks: they stay background in the label."""
    height, width = canvas.shape[:2]
    for _ in range(int(rng.integers(*CLUTTER_COUNT))):
        centre = (rng.uniform(0, width), rng.uniform(0, height))
        mask = _shape_mask(rng, (height, width), centre, rng.uniform(*CLUTTER_RADIUS))
        _paint(canvas, mask, _random_appearance(rng, OBJECT_LOOKS), rng)


def _photometric(rng: np.random.Generator, canvas: np.ndarray, photometry: Photometry) -> np.ndarray:
    """Global colour cast, brightness, illumination ramp and sensor noise → uint8."""
    height, width = canvas.shape[:2]
    cast = np.asarray(photometry.cast_mean) + rng.normal(scale=photometry.cast_std, size=3)
    gain = rng.uniform(*photometry.brightness)
    ys = np.arange(height, dtype=np.float32)[:, None] / height - 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] / width - 0.5
    direction = rng.normal(size=2).astype(np.float32)
    ramp = 1 + 0.15 * np.tanh(direction[0] * ys + direction[1] * xs)
    image = canvas * (gain * cast).astype(np.float32) * ramp[..., None]
    image += photometry.noise_std * rng.standard_normal(image.shape, dtype=np.float32)
    return _to_uint8(image)


def _ignore_boundaries(label: np.ndarray) -> np.ndarray:
    """Set pixels within BOUNDARY_RADIUS (Chebyshev) of a label change to 255, as VOC's outline band."""
    high, low = _window_extreme(label, np.maximum), _window_extreme(label, np.minimum)
    out = label.copy()
    out[high != low] = IGNORE_INDEX
    return out


def _window_extreme(label: np.ndarray, pick: np.ufunc) -> np.ndarray:
    """Max or min of label over a (2r+1)² square window, separably (edges replicated)."""
    r = BOUNDARY_RADIUS
    out = np.pad(label, r, mode="edge")
    for axis in (0, 1):
        length = out.shape[axis] - 2 * r
        shifted = [np.take(out, np.arange(k, k + length), axis=axis) for k in range(2 * r + 1)]
        out = pick.reduce(shifted)
    return out


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _softmax(logits: np.ndarray) -> np.ndarray:
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()
