"""Under partial textual support zero-shot sees the text RNS sees (rns spec §5), not every name."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rns_bench.methods import build_method
from rns_bench.methods.zero_shot import zero_shot_predict
from rns_bench.support.bank import SupportBank


def test_a_missing_name_is_the_mean_of_the_available_ones_for_zero_shot_too():
    generator = torch.Generator().manual_seed(0)
    text = F.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    queries = [F.normalize(torch.randn(5, 8, generator=generator), dim=-1)]
    available = torch.tensor([True, False, True, True])
    method = build_method("zero_shot", ["a", "b", "c", "d"], 16)
    method.attach_support(SupportBank(4, 8), text, available)
    filler = F.normalize(text[[0, 2, 3]].mean(dim=0), dim=-1)  # by hand: spec §5
    seen = torch.stack([text[0], filler, text[2], text[3]])
    (probs,) = method.predict_probs(queries, ["x"])
    assert torch.allclose(probs, zero_shot_predict(queries[0], seen, 100.0))
    assert not torch.allclose(probs, zero_shot_predict(queries[0], text, 100.0))  # not the full class list
    method.attach_support(SupportBank(4, 8), text, None)
    assert torch.allclose(method.predict_probs(queries, ["x"])[0], zero_shot_predict(queries[0], text, 100.0))
