"""Class-name prompts and the template ensemble every vision-language backbone shares.

features.md: "the 80 OpenAI ImageNet templates (open_clip ships them), each prompt embedding
normalised, averaged over templates, normalised again". The templates are imported from
open_clip (never copied), lazily, so that importing rns_bench does not import open_clip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Template = Callable[[str], str]
PromptEncoder = Callable[[list[str]], torch.Tensor]  # P prompts → (P, D) embeddings, any norm

PROMPTS_PER_BATCH = 400  # 5 classes × 80 templates per text-tower call: bounds memory on big vocabularies


def openai_imagenet_templates() -> tuple[Template, ...]:
    """The 80 OpenAI ImageNet prompt templates, as open_clip ships them (each ``name → prompt``)."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(OPENAI_IMAGENET_TEMPLATES)


def ensemble_text_features(
    encode_prompts: PromptEncoder,
    class_names: Sequence[str],
    templates: Sequence[Template],
    prompts_per_batch: int = PROMPTS_PER_BATCH,
) -> torch.Tensor:
    """K class names → (K, D) unit-norm text features: per class, the normalised mean over
    ``templates`` of the normalised prompt embeddings (features.md, text)."""
    prompts = [template(name) for name in class_names for template in templates]
    embeddings = torch.cat(
        [
            encode_prompts(prompts[start : start + prompts_per_batch]).float()
            for start in range(0, len(prompts), prompts_per_batch)
        ]
    )
    return average_template_embeddings(embeddings.reshape(len(class_names), len(templates), -1))


def average_template_embeddings(embeddings: torch.Tensor) -> torch.Tensor:
    """(K, T, D) prompt embeddings → (K, D): normalise each, average over T, normalise."""
    return F.normalize(F.normalize(embeddings, dim=-1).mean(dim=1), dim=-1)
