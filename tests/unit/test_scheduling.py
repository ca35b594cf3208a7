"""ClassSlots (qserv/scheduling.py): scans keep their concurrency, interactive jobs get the
reserved slot at once and go first when a slot frees, cancelled waiters leave nothing held."""

from __future__ import annotations

import asyncio

from qserv.scheduling import ClassSlots


async def _hold(slots, scan, started, release):
    async with slots.slot(scan):
        started.append(scan)
        await release.wait()


def test_interactive_job_takes_the_reserved_slot_while_scans_fill_theirs():
    async def main():
        slots, started, release = ClassSlots(2, reserved=1), [], asyncio.Event()
        tasks = [asyncio.create_task(_hold(slots, True, started, release)) for _ in range(4)]
        await asyncio.sleep(0)
        assert started == [True, True] and slots.waiting == (0, 2)   # scans: 2 at a time
        look_up = asyncio.create_task(_hold(slots, False, started, release))
        await asyncio.sleep(0)
        assert started == [True, True, False]                          # not behind the scans
        release.set()
        await asyncio.gather(*tasks, look_up)
        assert slots.running == 0 and slots.scans == 0
    asyncio.run(main())


def test_a_freed_slot_goes_to_waiting_interactive_jobs_first():
    async def main():
        slots, order = ClassSlots(1, reserved=0), []
        gate = asyncio.Event()

        async def job(scan, name):
            async with slots.slot(scan):
                order.append(name)
                await gate.wait()
        first = asyncio.create_task(job(True, "scan-1"))
        await asyncio.sleep(0)
        waiting = [asyncio.create_task(job(True, "scan-2")), asyncio.create_task(job(False, "look-up"))]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, *waiting)
        assert order == ["scan-1", "look-up", "scan-2"]
    asyncio.run(main())


def test_cancelled_waiters_hold_nothing():
    async def main():
        slots, release = ClassSlots(1, reserved=0), asyncio.Event()
        holder = asyncio.create_task(_hold(slots, True, [], release))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(_hold(slots, True, [], release))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        release.set()
        await holder
        assert slots.running == 0 and slots.waiting == (0, 0)
        async with slots.slot(True):   # still usable
            assert slots.running == 1
    asyncio.run(main())
