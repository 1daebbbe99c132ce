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
