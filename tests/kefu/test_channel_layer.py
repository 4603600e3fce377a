"""kefu.channel_layer.Inbox: the per-channel inbox of the pub/sub layer keeps channels_redis's
queue behaviour (FIFO, a waiting get wakes on put, a cancelled get loses nothing) and holds no
deque while empty."""

import asyncio

from kefu.channel_layer import Inbox


def test_inbox_is_a_fifo_that_wakes_its_reader_and_survives_a_cancelled_get():
    async def scenario():
        inbox = Inbox()
        assert inbox.empty() and inbox._items is None
        waiting = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        inbox.put_nowait("a")
        inbox.put_nowait("b")
        assert await asyncio.wait_for(waiting, 1) == "a"
        assert inbox.qsize() == 1
        assert await inbox.get() == "b"
        assert inbox._items is None  # freed between messages

        cancelled = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        assert inbox._waiter is None
        inbox.put_nowait("c")  # nobody waits: kept for the next get
        assert await asyncio.wait_for(inbox.get(), 1) == "c"

    asyncio.run(scenario())
