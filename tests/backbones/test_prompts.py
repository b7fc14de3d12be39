"""The template ensemble: per class, normalised mean over templates of normalised prompt embeddings."""

import pytest
import torch
import torch.nn.functional as F

from rns_bench.backbones.prompts import average_template_embeddings, ensemble_text_features

TWO_TEMPLATES = (lambda c: f"a photo of a {c}.", lambda c: f"a drawing of the {c}.")


def _fake_encoder(calls: list[list[str]]):
    def encode(prompts: list[str]) -> torch.Tensor:
        calls.append(list(prompts))
        rows = [
            torch.randn(5, generator=torch.Generator().manual_seed(sum(map(ord, p)))) * (1 + len(p)) for p in prompts
        ]
        return torch.stack(rows)

    return encode


def test_two_templates_by_hand() -> None:
    calls: list[list[str]] = []
    encode = _fake_encoder(calls)
    features = ensemble_text_features(encode, ["cat", "sofa"], TWO_TEMPLATES)
    for k, name in enumerate(["cat", "sofa"]):
        first, second = encode([TWO_TEMPLATES[0](name)])[0], encode([TWO_TEMPLATES[1](name)])[0]
        expected = F.normalize(F.normalize(first, dim=0) + F.normalize(second, dim=0), dim=0)
        torch.testing.assert_close(features[k], expected)
    assert calls[0] == ["a photo of a cat.", "a drawing of the cat.", "a photo of a sofa.", "a drawing of the sofa."]


def test_batching_does_not_change_the_result() -> None:
    names = [f"class {i}" for i in range(7)]
    whole = ensemble_text_features(_fake_encoder([]), names, TWO_TEMPLATES)
    calls: list[list[str]] = []
    batched = ensemble_text_features(_fake_encoder(calls), names, TWO_TEMPLATES, prompts_per_batch=3)
    assert [len(c) for c in calls] == [3, 3, 3, 3, 2]
    torch.testing.assert_close(batched, whole)
    torch.testing.assert_close(batched.norm(dim=-1), torch.ones(7))


def test_average_is_over_normalised_embeddings() -> None:
    embeddings = torch.tensor([[[3.0, 0.0], [0.0, 0.5]]])  # lengths must not weigh the mean
    torch.testing.assert_close(average_template_embeddings(embeddings), F.normalize(torch.ones(1, 2), dim=-1))


def test_openai_templates_are_open_clips_eighty() -> None:
    zero_shot_metadata = pytest.importorskip("open_clip.zero_shot_metadata")
    from rns_bench.backbones.prompts import openai_imagenet_templates

    templates = openai_imagenet_templates()
    assert len(templates) == 80 and templates == tuple(zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES)
    assert templates[0]("cat") == "a bad photo of a cat."
