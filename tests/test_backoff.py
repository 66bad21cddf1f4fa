import pytest

from aioredisjobqueue._backoff import backoff


def test_first_attempt_waits_the_floor() -> None:
    assert backoff(0, base=0.01, cap=1.0, floor=0.01, rand=lambda: 0.99) == pytest.approx(0.01)


def test_ceiling_doubles_each_attempt_until_the_cap() -> None:
    top = [backoff(n, base=0.01, cap=1.0, rand=lambda: 1.0) for n in range(10)]
    assert top[:7] == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64])
    assert top[7:] == pytest.approx([1.0, 1.0, 1.0])


def test_full_jitter_spans_floor_to_ceiling() -> None:
    assert backoff(3, base=0.01, cap=1.0, floor=0.01, rand=lambda: 0.0) == pytest.approx(0.01)
    assert backoff(3, base=0.01, cap=1.0, floor=0.01, rand=lambda: 0.5) == pytest.approx(0.045)


def test_default_draws_stay_in_bounds() -> None:
    for attempt in range(200):
        delay = backoff(attempt, base=0.05, cap=2.0, floor=0.05)
        assert 0.05 <= delay <= 2.0


def test_huge_attempt_is_capped_not_overflowing() -> None:
    assert backoff(10_000, base=1.0, cap=30.0, rand=lambda: 1.0) == 30.0


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 0, got -1"):
        backoff(-1, base=1.0, cap=2.0)
