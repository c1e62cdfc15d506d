"""Failover policy logic (RFC 3263 §4.3) without sockets: orders, down-memory, stickiness."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplocate.client.failover import (
    DownMemory,
    Failback,
    Failover,
    Failure,
    Policy,
    Steering,
    is_failover_response,
    try_order,
)
from siplocate.errors import BadInput
from siplocate.target import Target, Transport

A = Target(Transport.UDP, "a.test", 5060, "127.0.0.2", 10, 0)
B = Target(Transport.UDP, "b.test", 5060, "127.0.0.3", 20, 0)
C = Target(Transport.TCP, "c.test", 5060, "127.0.0.4", 30, 0)
LIST = [A, B, C]


def test_default_starts_from_the_top_and_skips_down_targets() -> None:
    f = Failover(Policy.DEFAULT, down_for=30)
    assert f.order(LIST, 0) == [A, B, C]
    f.failed(A, 0, Failure.TRANSPORT)
    assert f.order(LIST, 1) == [B, C, A]
    f.succeeded(B, 1)
    assert f.order(LIST, 2) == [B, C, A]  # A still down
    assert f.order(LIST, 31) == [A, B, C]  # down-mark ran out: back to the top (failback)


def test_retry_after_sets_how_long_a_503_target_stays_down() -> None:
    f = Failover(down_for=30)
    assert f.failed(A, 100, Failure.UNAVAILABLE, retry_after=5) == 105
    assert f.order(LIST, 104)[0] == B
    assert f.order(LIST, 105)[0] == A


def test_all_down_still_tries_everything_in_order() -> None:
    f = Failover()
    for t in LIST:
        f.failed(t, 0, Failure.TIMEOUT)
    assert f.order(LIST, 1) == LIST


def test_sticky_keeps_the_working_target_until_it_fails() -> None:
    f = Failover(Policy.STICKY)
    f.failed(A, 0, Failure.TIMEOUT)
    f.succeeded(B, 1)
    assert f.order(LIST, 1000) == [B, A, C]  # A's mark expired, but sticky stays on B
    f.failed(B, 1001, Failure.TRANSPORT)
    assert f.current is None
    assert f.order(LIST, 1002) == [A, C, B]


def test_sticky_ttl_keeps_it_until_the_dns_answer_expires() -> None:
    f = Failover(Policy.STICKY_TTL, down_for=1)
    f.failed(A, 0, Failure.TIMEOUT)
    f.succeeded(B, 1, expires=60)
    assert f.order(LIST, 59)[0] == B
    assert f.order(LIST, 60)[0] == A


def test_prefer_beats_the_policy_but_not_a_down_mark() -> None:
    f = Failover()
    assert f.order(LIST, 0, Steering(prefer=C)) == [C, A, B]
    f.failed(C, 0, Failure.TRANSPORT)
    assert f.order(LIST, 1, Steering(prefer=C)) == [A, B, C]


def test_health_marks_are_open_ended_until_marked_up() -> None:
    memory = DownMemory()
    memory.mark_down(A, math.inf)
    assert memory.is_down(A, 1e12)
    memory.mark_up(A)
    assert not memory.is_down(A, 0)


def test_only_503_triggers_failover_among_responses() -> None:
    assert is_failover_response(503)
    assert not any(is_failover_response(c) for c in (200, 401, 403, 404, 408, 480, 500, 600))


def test_policy_and_failback_names() -> None:
    assert Policy.parse("Sticky-TTL") is Policy.STICKY_TTL
    assert Failback.parse("probe") is Failback.PROBE
    known = "known: default, sticky-ttl, sticky, affinity, static, configured-ip"
    with pytest.raises(BadInput, match=known):
        Policy.parse("roundrobin")


TARGETS = st.lists(
    st.builds(
        Target,
        st.sampled_from([Transport.UDP, Transport.TCP]),
        st.just("h.test"),
        st.integers(5060, 5063),
        st.sampled_from(["127.0.0.2", "127.0.0.3", "127.0.0.4"]),
    ),
    max_size=8,
    unique=True,
)


@given(
    targets=TARGETS,
    down=st.lists(st.integers(0, 7), max_size=8),
    first=st.integers(0, 8),
    # configured-ip walks its configured order without down-memory (the Grandstream guide's
    # walk, exactly): its own test is in test_failback_damping.py.
    policy=st.sampled_from([p for p in Policy if p is not Policy.CONFIGURED_IP]),
)
def test_order_is_a_permutation_with_up_targets_first_in_list_order(
    targets: list[Target], down: list[int], first: int, policy: Policy
) -> None:
    f = Failover(policy)
    for i in down:
        if i < len(targets):
            f.failed(targets[i], 0, Failure.TIMEOUT)
    prefer = targets[first] if first < len(targets) else None
    result = f.order(targets, 1, Steering(prefer=prefer))
    assert sorted(result, key=repr) == sorted(targets, key=repr)
    is_down = [f.memory.is_down(t, 1) for t in result]
    assert is_down == sorted(is_down)  # every up target comes before every down target
    up = [t for t in result if not f.memory.is_down(t, 1)]
    rest = [t for t in up if t != prefer]
    assert rest == [t for t in targets if t in rest]  # list order kept apart from `prefer`
    if prefer is not None and not f.memory.is_down(prefer, 1):
        assert result[0] == prefer
    plain = [t for t in targets if t in up] + [t for t in targets if t not in up]
    assert try_order(targets, f.memory, 1) == plain


def test_from_top_ignores_stickiness_for_a_failback_refresh() -> None:
    f = Failover(Policy.STICKY)
    f.succeeded(B, 0)
    assert f.order(LIST, 1)[0] == B
    assert f.order(LIST, 1, Steering(from_top=True)) == [A, B, C]
