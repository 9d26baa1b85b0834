"""ClientLimits alone: slots in flight and a token bucket per client, on a fake clock."""

import pytest

from adapter.client_limits import ClientLimits
from adapter.errors import RateLimited


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_concurrency_is_counted_per_client_and_freed_on_release():
    limits = ClientLimits(max_concurrent=2, rate_per_min=0, burst=1, clock=FakeClock())
    limits.admit("job:a")
    limits.admit("job:a")
    with pytest.raises(RateLimited) as refused:
        limits.admit("job:a")
    assert (refused.value.status, refused.value.error_type, refused.value.retry_after_s) == (
        429,
        "rate_limit_error",
        1,
    )
    limits.admit("job:b")  # another token has its own slots
    limits.release("job:a")
    limits.admit("job:a")


def test_the_rate_allows_a_burst_then_refills_and_says_when():
    clock = FakeClock()
    limits = ClientLimits(max_concurrent=0, rate_per_min=30, burst=3, clock=clock)  # one request every 2 s
    for _ in range(3):
        limits.admit("job:a")
        limits.release("job:a")
    with pytest.raises(RateLimited) as refused:
        limits.admit("job:a")
    assert refused.value.retry_after_s == 2
    assert refused.value.headers()["retry-after"] == "2"
    clock.now += 1.5
    with pytest.raises(RateLimited) as refused:
        limits.admit("job:a")
    assert refused.value.retry_after_s == 1  # 0.5 s left, rounded up
    clock.now += 0.5
    limits.admit("job:a")


def test_a_request_refused_for_concurrency_spends_none_of_the_rate():
    limits = ClientLimits(max_concurrent=1, rate_per_min=60, burst=2, clock=FakeClock())
    limits.admit("job:a")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limits.admit("job:a")
    limits.release("job:a")
    limits.admit("job:a")  # the second token of the burst is still there


def test_idle_clients_are_forgotten():
    clock = FakeClock()
    limits = ClientLimits(max_concurrent=4, rate_per_min=60, burst=2, clock=clock)
    for job in range(100):
        limits.admit(f"job:{job}")
        limits.release(f"job:{job}")
    limits.admit("job:busy")
    clock.now += 120
    limits.admit("job:late")
    assert limits.tracked() == {"job:busy", "job:late"}
