"""PostAckGate: follow-up work waits for the acks still being answered, but not for ever."""

from __future__ import annotations

import asyncio

from bot.slack.door import PostAckGate


async def test_work_waits_while_other_answers_are_pending() -> None:
    gate = PostAckGate(slots=2, max_delay=5.0)
    order: list[str] = []

    async def work() -> None:
        async with gate:
            order.append("work")

    with gate.answering():
        with gate.answering():
            task = asyncio.create_task(work())
            await asyncio.sleep(0.05)
            assert order == []  # two answers pending: this one's and another
            order.append("answered")
        await asyncio.wait_for(task, 1.0)  # one left (its own, about to be written): go
    assert order == ["answered", "work"]


async def test_one_pending_answer_does_not_hold_work_back() -> None:
    gate = PostAckGate(slots=1, max_delay=5.0)
    with gate.answering():
        async with asyncio.timeout(0.5), gate:
            pass


async def test_a_steady_stream_of_requests_delays_work_by_max_delay_at_most() -> None:
    gate = PostAckGate(slots=1, max_delay=0.1)
    loop = asyncio.get_running_loop()
    with gate.answering(), gate.answering():  # never answered while the work waits
        start = loop.time()
        async with gate:
            waited = loop.time() - start
    assert 0.05 <= waited < 1.0


async def test_at_most_slots_pieces_of_work_run_at_once() -> None:
    gate = PostAckGate(slots=2, max_delay=0.1)
    running = peak = 0

    async def work() -> None:
        nonlocal running, peak
        async with gate:
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert peak == 2


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    gate = PostAckGate(slots=1, max_delay=10.0)
    with gate.answering(), gate.answering():

        async def work() -> None:
            async with gate:
                pass

        task = asyncio.create_task(work())
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    async with asyncio.timeout(1.0), gate:  # the slot is free again
        pass


async def test_urgent_work_does_not_wait_for_the_ordinary_slots() -> None:
    """A views.open with a 3 s trigger id must not queue behind slow API calls."""
    gate = PostAckGate(slots=1, max_delay=0.1)
    held = asyncio.Event()

    async def slow() -> None:
        async with gate:
            held.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await held.wait()
    async with asyncio.timeout(1.0), gate.urgent():  # the one ordinary slot is taken
        pass
    assert not await gate.drain(0.01)  # the slow work still counts for shutdown
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_urgent_work_still_waits_for_pending_answers_and_counts_for_drain() -> None:
    gate = PostAckGate(slots=1, max_delay=5.0)
    order: list[str] = []

    async def work() -> None:
        async with gate.urgent():
            order.append("work")
            await asyncio.sleep(0.05)

    with gate.answering():
        with gate.answering():
            task = asyncio.create_task(work())
            await asyncio.sleep(0.05)
            assert order == []
            order.append("answered")
        await asyncio.sleep(0.01)
        assert not await gate.drain(0.001)  # running: a shutdown waits for it
    await asyncio.wait_for(task, 1.0)
    assert order == ["answered", "work"]
    assert await gate.drain(0.1)
