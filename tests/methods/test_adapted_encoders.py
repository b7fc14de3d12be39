"""AdaptedEncoders: one adapted encoder (and what extracts with it) kept while the same adaptation repeats."""

from __future__ import annotations

import gc
import weakref

from rns_bench.methods.adapted import AdaptedEncoders


class Thing:
    """Stands in for a backbone, an adapted encoder or a context (weak-referenceable, compared by identity)."""


def test_an_adaptation_is_made_once_while_backbone_and_key_repeat():
    encoders, backbone, other = AdaptedEncoders(), Thing(), Thing()
    made = []

    def adapt() -> Thing:
        made.append(1)
        return Thing()

    first = encoders.adapted(backbone, ("finetune", "images", 1), adapt)
    assert encoders.adapted(backbone, ("finetune", "images", 1), adapt) is first and len(made) == 1
    second = encoders.adapted(backbone, ("finetune", "images", 2), adapt)  # another option: adapted again
    assert second is not first and len(made) == 2
    assert encoders.adapted(backbone, ("finetune", "images", 1), adapt) is not first  # one entry only
    assert len(made) == 3
    encoders.adapted(other, ("finetune", "images", 1), adapt)  # the same key on another backbone
    assert len(made) == 4


def test_what_extracts_with_an_encoder_is_built_once_and_freed_with_it():
    encoders, backbone = AdaptedEncoders(), Thing()
    encoder = encoders.adapted(backbone, "key", Thing)
    built = encoders.built_for(encoder, Thing)
    assert encoders.built_for(encoder, lambda: None) is built
    assert encoders.built_for(Thing(), Thing) is not built  # another encoder, its own features
    built = encoders.built_for(encoder, Thing)
    gone = weakref.ref(built), weakref.ref(encoder)
    del built, encoder
    encoders.adapted(backbone, "another key", Thing)  # the next adaptation frees the last one and its features
    gc.collect()
    assert [ref() for ref in gone] == [None, None]
