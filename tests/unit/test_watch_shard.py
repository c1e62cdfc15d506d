"""The shard rule of ``watch --shard I/N``: stable (golden values, other processes), balanced,
and deaf to spelling (case, trailing dot, U-labels vs A-labels)."""

from __future__ import annotations

import collections
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplocate.errors import BadInput
from siplocate.watch.shard import MAX_SHARDS, Shard, shard_of

# Pinned: changing any of these moves domains between running instances (a fleet upgraded
# one instance at a time would watch some domains twice and some not at all).
GOLDEN = [
    ("example.com", 3, 1),
    ("example.com", 4, 1),
    ("example.com", 1000, 309),
    ("atlanta.example", 3, 2),
    ("atlanta.example", 1000, 412),
    ("biloxi.example", 3, 0),
    ("biloxi.example", 4, 2),
    ("xn--bcher-kva.example", 4, 0),
    ("d0000.scale.test", 4, 3),
]


@pytest.mark.parametrize(("domain", "shards", "want"), GOLDEN)
def test_golden_values(domain: str, shards: int, want: int) -> None:
    assert shard_of(domain, shards) == want


def test_same_in_other_processes_whatever_their_hash_seed() -> None:
    code = (
        "from siplocate.watch.shard import shard_of;"
        "print([shard_of(f'c{i}.example.net', 7) for i in range(50)])"
    )
    here = str([shard_of(f"c{i}.example.net", 7) for i in range(50)])
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.stdout.strip() == here, out.stderr


@pytest.mark.parametrize("shards", [2, 3, 4, 5, 8, 16])
def test_balanced_over_10000_names(shards: int) -> None:
    """Bound: every shard holds within 15% of 10,000/N (N <= 16), within 5% for N <= 4."""
    counts = collections.Counter(
        shard_of(f"customer{i}.example.net", shards) for i in range(10_000)
    )
    mean = 10_000 / shards
    bound = 0.05 if shards <= 4 else 0.15
    assert set(counts) == set(range(shards))
    assert all(abs(c - mean) <= bound * mean for c in counts.values()), counts


def test_every_domain_in_exactly_one_shard() -> None:
    names = [f"t{i}.carrier.test" for i in range(600)]
    parts = [Shard(i, 3).select(names) for i in range(3)]
    assert sorted(d for p in parts for d in p) == sorted(names)
    assert sum(len(p) for p in parts) == len(names)


@given(st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){1,3}", fullmatch=True))
def test_spelling_does_not_move_a_domain(name: str) -> None:
    for n in (2, 3, 7):
        s = shard_of(name, n)
        assert 0 <= s < n
        assert shard_of(name.upper() + ".", n) == s


def test_u_labels_and_a_labels_agree() -> None:
    assert shard_of("bücher.example", 4) == shard_of("xn--bcher-kva.example", 4)
    assert shard_of("BÜCHER.example.", 9) == shard_of("xn--bcher-kva.example", 9)


@pytest.mark.parametrize(
    ("text", "index", "count"), [("0/1", 0, 1), ("2/3", 2, 3), (" 0/4 ", 0, 4)]
)
def test_parse(text: str, index: int, count: int) -> None:
    assert Shard.parse(text) == Shard(index, count)
    assert str(Shard.parse(text)) == f"{index}/{count}"


@pytest.mark.parametrize(
    "text",
    [
        "3/3",
        "1/0",
        "0/0",
        "-1/3",
        "1",
        "a/b",
        "1/3/4",
        "",
        "1/",
        "/3",
        "²/3",
        f"0/{MAX_SHARDS + 1}",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(BadInput) as err:
        Shard.parse(text)
    assert "--shard" in str(err.value) and "\n" not in str(err.value)


def test_one_shard_owns_everything() -> None:
    assert Shard().select(["a.test", "b.test"]) == ["a.test", "b.test"]
