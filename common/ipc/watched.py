"""A ZeroMQ socket driven from the asyncio loop by one reader on its descriptor, kept for its life.

pyzmq's awaitable send/recv build a future, a timeout entry and a done-callback per call and wake the
waiting task a loop turn later; at one RPC per round trip that bookkeeping was a third of the cost
(bench/bench_rpc.py). Here a call sends and receives without blocking and awaits a bare future only
when nothing is there yet.

ZeroMQ's descriptor signals edges: it turns readable when the socket's events may have changed and
stays so until they are read (any send, receive or read of ZMQ_EVENTS clears it). So a waiter reads
the events before it waits, and the reader reads them whenever it fires (else the loop would spin).
Never mix this with pyzmq's awaitable methods on one socket: their handler would replace this reader.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import zmq


class WatchedSocket(zmq.Socket):
    _loop: asyncio.AbstractEventLoop | None = None
    _fd: int | None = None
    _waiter: asyncio.Future[int] | None = None
    _on_signal: Callable[[], None] | None = None

    def watch(self, loop: asyncio.AbstractEventLoop, on_signal: Callable[[], None] | None = None) -> None:
        """Starts watching on `loop`. `on_signal`, if given, is called on every signal instead (it
        must touch the socket, e.g. receive until zmq.Again, to clear the signal)."""
        self._loop, self._on_signal = loop, on_signal
        self._fd = self.get(zmq.FD)
        loop.add_reader(self._fd, self._signalled)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def unwatch(self) -> None:
        if self._loop is not None and self._fd is not None:
            self._loop.remove_reader(self._fd)
        self._fd = None

    def _signalled(self) -> None:
        if self.closed:
            return
        if self._on_signal is not None:
            self._on_signal()
            return
        events = self.get(zmq.EVENTS)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(events)

    async def wait_for(self, flag: int) -> None:
        """Returns once the socket can receive (zmq.POLLIN) or send (zmq.POLLOUT) without blocking."""
        assert self._loop is not None, "watch() the socket first"
        events = self.get(zmq.EVENTS)
        while not events & flag:
            self._waiter = waiter = self._loop.create_future()
            try:
                events = await waiter
            finally:
                self._waiter = None

    def close(self, linger: int | None = None) -> None:
        # Before the descriptor is closed and its number handed to another socket or file.
        if not self.closed:
            self.unwatch()
        super().close(linger=linger)
