"""RFC 2782 ordering: priority order always holds; first choices follow the weights."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siplocate.resolver.rfc2782 import first_choice_shares, rng_for, srv_order, weighted_order


@dataclass(frozen=True)
class Rec:
    name: str
    priority: int
    weight: int


records = st.lists(
    st.builds(
        Rec, st.text("abcdefgh", min_size=1, max_size=4), st.integers(0, 3), st.integers(0, 100)
    ),
    max_size=12,
)


@given(records, st.integers(0, 2**32))
def test_priority_order_always_holds_and_nothing_is_lost(recs: list[Rec], seed: int) -> None:
    ordered = srv_order(recs, random.Random(seed))
    assert sorted(ordered, key=id) == sorted(recs, key=id)
    priorities = [r.priority for r in ordered]
    assert priorities == sorted(priorities)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=8))
def test_shares_sum_to_one(weights: list[int]) -> None:
    assert abs(sum(first_choice_shares(weights)) - 1) < 1e-9


def frequencies(weights: list[int], n: int, seed: int = 7) -> list[float]:
    group = [Rec(f"r{i}", 0, w) for i, w in enumerate(weights)]
    rng = random.Random(seed)
    firsts = Counter(weighted_order(group, rng)[0].name for _ in range(n))
    return [firsts[f"r{i}"] / n for i in range(len(weights))]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([1, 3], [0.25, 0.75]),  # RFC 2782's example: three quarters to new-fast-box
        ([0, 20, 10], [1 / 31, 20 / 31, 10 / 31]),  # 3%, 65%, 32%
        ([0, 0, 0], [1 / 3] * 3),
        ([5], [1.0]),
        ([0, 0, 2], [1 / 6, 1 / 6, 2 / 3]),
    ],
)
def test_first_choice_frequencies_follow_the_rfc_rule(
    weights: list[int], expected: list[float]
) -> None:
    assert first_choice_shares(weights) == pytest.approx(expected)
    got = frequencies(weights, 20_000)
    assert got == pytest.approx(expected, abs=0.015)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 20), min_size=2, max_size=5))
def test_positive_weights_first_choice_is_w_over_s(weights: list[int]) -> None:
    got = frequencies(weights, 4000, seed=sum(weights))
    total = sum(weights)
    for g, w in zip(got, weights, strict=True):
        assert abs(g - w / total) < 0.05


def test_second_choice_applies_the_rule_to_the_rest() -> None:
    group = [Rec("a", 0, 1), Rec("b", 0, 1), Rec("c", 0, 2)]
    rng = random.Random(3)
    seconds = Counter()
    runs = 20_000
    for _ in range(runs):
        order = weighted_order(group, rng)
        if order[0].name == "c":
            seconds[order[1].name] += 1
    # after c is taken, a and b have equal weight: an even split
    assert seconds["a"] / sum(seconds.values()) == pytest.approx(0.5, abs=0.03)


def test_keyed_order_is_stable_per_key_and_follows_weights_across_keys() -> None:
    group = [Rec("slow", 0, 1), Rec("fast", 0, 3)]
    for key in ("call-1@host", "call-2@host", "xyz"):
        first = [r.name for r in weighted_order(group, rng_for(key=key))]
        assert all(
            [r.name for r in weighted_order(group, rng_for(key=key))] == first for _ in range(5)
        )
    firsts = Counter(weighted_order(group, rng_for(key=f"call-{i}"))[0].name for i in range(4000))
    assert firsts["fast"] / 4000 == pytest.approx(0.75, abs=0.03)


def test_seed_reproduces_order() -> None:
    group = [Rec(str(i), 0, i % 3) for i in range(8)]
    assert weighted_order(group, rng_for(seed=5)) == weighted_order(group, rng_for(seed=5))
