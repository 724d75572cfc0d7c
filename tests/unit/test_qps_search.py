"""The bench's QPS search finds where a system fails, not where the search stops: driven by fake probes of a
known threshold (sharp and noisy), a start far below or above it, and a time budget that runs out."""
import random

import pytest

from bench.common import ceiling_ratio, find_ceiling


def sharp(threshold):
    return lambda qps: qps <= threshold


# (threshold, start): starts far below, near and far above (down to the search's floor, start / 64)
@pytest.mark.parametrize("threshold,start", [(1234.0, 200.0), (1234.0, 10_000.0), (300_000.0, 200.0),
                                             (300_000.0, 10_000.0), (300_000.0, 5_000_000.0), (2_000_000.0, 200.0),
                                             (2_000_000.0, 10_000.0), (2_000_000.0, 5_000_000.0)])
def test_a_sharp_threshold_is_found_to_the_stated_resolution(threshold, start):
    c = find_ceiling(sharp(threshold), start, resolution=0.05)
    assert not c.capped, c
    assert c.qps <= threshold < c.failed_at <= c.qps * 1.05 + 0.1, c
    assert c.figure() == c.qps


def test_a_noisy_system_is_found_within_its_noise_band():
    rng = random.Random(7)
    threshold = 80_000.0

    def noisy(qps):   # always VALID below 0.9x, never above 1.1x, a coin between
        if qps < 0.9 * threshold:
            return True
        if qps > 1.1 * threshold:
            return False
        return rng.random() < (1.1 * threshold - qps) / (0.2 * threshold)
    for _ in range(20):
        c = find_ceiling(noisy, 2000, resolution=0.05, attempts=2)
        assert not c.capped
        assert 0.85 * threshold <= c.qps <= 1.1 * threshold, c


def test_a_spent_budget_says_capped_and_gives_no_ratio():
    now = [0.0]

    def clock():
        return now[0]

    def slow_probe(qps):
        now[0] += 10.0          # each probe takes 10 s of the budget
        return True             # and the system never fails
    c = find_ceiling(slow_probe, 2000, budget_s=45, clock=clock)
    assert c.capped and c.failed_at is None
    assert c.qps == 2000 * 2 ** 4 and len(c.probes) == 5
    assert c.figure() == "capped at 32000"
    found = find_ceiling(sharp(1000), 100)
    assert ceiling_ratio(found, c) is None and ceiling_ratio(c, found) is None
    assert ceiling_ratio(found, found) == 1.0


def test_nothing_valid_down_to_the_floor_is_capped_at_zero():
    c = find_ceiling(lambda qps: False, 1000, floor_ratio=1 / 8)
    assert c.capped and c.qps == 0 and c.failed_at == 125.0
    assert [p[0] for p in c.probes] == [1000, 500, 250, 125]
    assert all(runs == 2 for _, _, runs in c.probes)          # a failing rate is tried `attempts` times
