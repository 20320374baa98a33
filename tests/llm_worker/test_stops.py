"""A person's Stop reaches the run it names, wherever it is: in hand, not taken yet, or taken just as it came.
The worker hears every Stop on one subscription; these are its bookkeeping, the bus's part is in test_worker."""

from __future__ import annotations

import asyncio

from services.llm_worker.leases import Stops


async def test_a_stop_reaches_the_run_in_hand_and_no_other() -> None:
    stops = Stops()
    async with stops.listening("r1") as first, stops.listening("r2") as second:
        stops.heard("r1")
        assert first.is_set() and not second.is_set()
    assert stops.in_hand == {}


async def test_a_stop_heard_before_the_run_was_taken_stops_it_once_taken() -> None:
    stops = Stops()
    stops.heard("r1")
    async with stops.listening("r1") as cancelled:
        assert cancelled.is_set()
    # Taken once: a later attempt of the run is not told of the old Stop again.
    async with stops.listening("r1") as again:
        assert not again.is_set()


async def test_a_run_held_twice_is_stopped_in_both() -> None:
    stops = Stops()
    async with stops.listening("r1") as one:
        async with stops.listening("r1") as other:
            stops.heard("r1")
            await asyncio.wait_for(asyncio.gather(one.wait(), other.wait()), 1)
        assert "r1" in stops.in_hand
    assert "r1" not in stops.in_hand


def test_stops_of_runs_never_taken_are_forgotten_beyond_the_limit() -> None:
    stops = Stops(remember=3, remember_s=3600)
    for n in range(5):
        stops.heard(f"r{n}")
    assert len(stops.stopped) <= 4 and stops.was_stopped("r4")
