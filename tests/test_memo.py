"""paget.plugins._memo.once: a value made once per identity of its objects."""
from __future__ import annotations

from paget.plugins import _memo
from paget.plugins._memo import MAX_ENTRIES, once


class Same:
    """Objects that compare equal to each other: once must go by identity."""

    def __eq__(self, other):
        return isinstance(other, Same)

    __hash__ = object.__hash__


def test_made_once_per_identity_of_the_objects():
    cache, made = {}, []

    def make(tag):
        return lambda: made.append(tag) or tag

    a, b, c = Same(), Same(), Same()
    assert once(cache, (a,), make("a")) == "a"
    assert once(cache, (a,), make("x")) == "a"            # the last call's entry again
    assert once(cache, (b,), make("b")) == "b"            # equal but not the same object
    assert once(cache, (a,), make("x")) == "a"            # an older entry, by the ids
    assert once(cache, (a, c), make("ac")) == "ac"        # another tuple of objects
    assert once(cache, (a,), make("x")) == "a"
    assert once(cache, (c, a), make("ca")) == "ca"        # order matters
    assert once(cache, (a, c), make("x")) == "ac"
    assert made == ["a", "b", "ac", "ca"]


def test_an_entry_whose_id_was_reused_is_made_again():
    cache = {}
    a, b = Same(), Same()
    once(cache, (a,), lambda: "a")
    cache[(id(b),)] = ((a,), "stale")          # as if b had a's old id
    cache.pop(None)
    assert once(cache, (b,), lambda: "b") == "b"
    assert once(cache, (b,), lambda: "x") == "b"


def test_a_full_cache_starts_again():
    cache = {}
    keep = [Same() for _ in range(MAX_ENTRIES + 3)]
    for i, o in enumerate(keep):
        assert once(cache, (o,), lambda i=i: i) == i
        assert len(cache) <= MAX_ENTRIES + 1               # the entries and the last one
    assert once(cache, (keep[-1],), lambda: "x") == MAX_ENTRIES + 2
    assert _memo.MAX_ENTRIES == MAX_ENTRIES


def test_plugin_memos_hold_what_their_functions_make():
    """The per-(table, body) values hook bodies now take from once(): the same
    values as the functions they stand for, made once, not writable."""
    import numpy as np

    import paget
    from paget.config import resolve_organ_map
    from paget.plugins import genetics, microenvironment
    sim = paget.Simulation.from_scenario("default", {"cohort": {"patients": 2, "years": 0.1}},
                                         entry_points=False)
    cfg, body = sim.config, sim.body
    w = microenvironment._tropism(cfg.microenvironment, body)
    assert np.array_equal(w, resolve_organ_map(cfg.microenvironment.tropism, body, 0.0))
    assert not w.flags.writeable
    assert microenvironment._tropism(cfg.microenvironment, body) is w
    assert genetics._mask(cfg.genetics) == int(genetics.initial_mask(cfg))
