"""The RPC layer over real ZeroMQ sockets: typed errors, deadlines, Lazy Pirate retries."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from common.settings.base import ConfigError
from common.contract.base import Body, RpcErrorCode, method
from common.contract.core import PING, PingResult
from common.ipc import RpcClient, RpcError, RpcServer, RpcTimeout
from common.ipc.endpoints import CurveKeys
from common.ipc.envelope import encode_request
from tests.support.ports import free_port
from tests.support.wait import wait_for


class EchoBody(Body):
    text: str
    delay: float = 0.0


class EchoResult(Body):
    text: str
    calls: int


ECHO = method("test_echo", "testsvc", EchoBody, EchoResult, retry_safe=True)
UNSAFE = method("test_unsafe", "testsvc", EchoBody, EchoResult, retry_safe=False)
TEST_PING = PING


@pytest.fixture
def endpoint(tmp_path: Path) -> str:
    return f"ipc://{tmp_path}/t.ipc"


@pytest.fixture
async def harnesses():
    """Every harness a test makes is stopped and its context destroyed, even after a failed
    assertion: a ZeroMQ context left with open sockets can hang the interpreter at exit."""
    made: list["Harness"] = []

    def make(endpoint: str, curve: CurveKeys | None = None, context: zmq.asyncio.Context | None = None) -> "Harness":
        harness = Harness(endpoint, curve)
        if context is not None:
            harness.context = context
        made.append(harness)
        return harness
    yield make
    for harness in made:
        await harness.stop()
    for harness in made:
        harness.context.destroy(0)


class Harness:
    def __init__(self, endpoint: str, curve: CurveKeys | None = None) -> None:
        self.context = zmq.asyncio.Context()
        self.endpoint = endpoint
        self.curve = curve
        self.calls = 0
        self.server: RpcServer | None = None
        self.task: asyncio.Task | None = None
        self.clients: list[RpcClient] = []

    async def start(self) -> None:
        self.server = RpcServer(self.context, self.endpoint, "testsvc", curve=self.curve)

        async def echo(body: EchoBody) -> EchoResult:
            self.calls += 1
            if body.delay:
                await asyncio.sleep(body.delay)  # the slow work being simulated, not synchronisation
            if body.text == "boom":
                raise ValueError("secret internals")
            if body.text == "missing":
                raise RpcError(RpcErrorCode.NOT_FOUND, "no such thing")
            if body.text == "downstream late":
                raise RpcTimeout("the service this one called did not answer")
            return EchoResult(text=body.text, calls=self.calls)

        async def ping(_: object) -> PingResult:
            return PingResult(service="testsvc", pid=1, time=time.time())

        self.server.handle(ECHO, echo)
        self.server.handle(UNSAFE, echo)
        self.server.handle(PING, ping)
        self.server.bind()
        self.task = asyncio.create_task(self.server.serve())

    async def stop(self) -> None:
        for client in self.clients:
            client.close()
        await self.stop_server()

    async def stop_server(self) -> None:
        if self.server is None or self.task is None or self.task.done():
            return
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.server.drain(1)
        self.server.close()

    def client(self, **kwargs) -> RpcClient:
        client = RpcClient(self.context, self.endpoint, curve=self.curve, **kwargs)
        self.clients.append(client)
        return client


async def test_call_ok_and_typed_errors(endpoint: str, harnesses) -> None:
    harness = harnesses(endpoint)
    await harness.start()
    client = harness.client()
    result = await client.call(ECHO, EchoBody(text="hi"))
    assert result == EchoResult(text="hi", calls=1)
    with pytest.raises(RpcError) as missing:
        await client.call(ECHO, {"text": "missing"})
    assert missing.value.code == RpcErrorCode.NOT_FOUND
    with pytest.raises(RpcError) as internal:
        await client.call(ECHO, {"text": "boom"})
    assert internal.value.code == RpcErrorCode.INTERNAL and "secret internals" not in internal.value.message
    unknown = method("test_nobody_serves_this", "testsvc", EchoBody, EchoResult, retry_safe=True)
    with pytest.raises(RpcError) as not_there:
        await client.call(unknown, {"text": "x"})
    assert not_there.value.code == RpcErrorCode.UNKNOWN_METHOD


async def test_bad_body_and_raw_garbage_get_typed_errors(endpoint: str, harnesses) -> None:
    harness = harnesses(endpoint)
    await harness.start()
    raw = harness.context.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(endpoint)
    for frame in (b"not json", b"[1,2]", b'{"id":"a","method":"test_echo","deadline":"soon","body":{}}',
                  b'{"id":"b","method":"test_echo","deadline":9999999999,"body":{"text":1,"extra":true}}'):
        await raw.send(frame)
        assert await raw.poll(2000)
        reply = __import__("orjson").loads(await raw.recv())
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    raw.close()


async def test_deadline_is_enforced_on_both_sides(endpoint: str, harnesses) -> None:
    harness = harnesses(endpoint)
    await harness.start()
    client = harness.client()
    started = time.monotonic()
    with pytest.raises(RpcTimeout):
        await client.call(UNSAFE, {"text": "slow", "delay": 5}, timeout=0.3)
    # Far below the handler's 5 s: the client gave up at its deadline (slack for a loaded machine).
    assert time.monotonic() - started < 2.0
    # The server stops the handler at the deadline instead of letting it run on.
    assert harness.server is not None
    await asyncio.wait_for(_until(lambda: harness.server.inflight == 0), 2)


async def test_server_deadline_answer_reaches_caller_as_timeout(endpoint: str, harnesses) -> None:
    """Whichever clock runs out first, the caller's or the server's, the caller sees one exception type."""
    harness = harnesses(endpoint)
    await harness.start()
    client = harness.client()
    with pytest.raises(RpcTimeout) as late:
        await client.call(UNSAFE, {"text": "downstream late"}, timeout=5)
    assert late.value.code == RpcErrorCode.DEADLINE_EXCEEDED
    assert "did not answer" in late.value.message
    assert harness.calls == 1


async def test_no_server_means_timeout_not_hang(endpoint: str, harnesses) -> None:
    harness = harnesses(endpoint)   # never started: nobody listens
    client = harness.client()
    started = time.monotonic()
    with pytest.raises(RpcTimeout):
        await client.call(PING, timeout=0.4)
    assert time.monotonic() - started < 1.5


class CountingContext(zmq.asyncio.Context):
    """A context that counts the sockets made in it: what a client opens is seen from outside it."""

    opened = 0

    def socket(self, *args, **kwargs):
        self.opened += 1
        return super().socket(*args, **kwargs)


async def test_retry_safe_call_survives_server_restart(endpoint: str, harnesses) -> None:
    """Lazy Pirate: the attempts are lost with the dead server; a retry on a fresh socket reaches
    the new one, which runs the request once."""
    harness = harnesses(endpoint)
    await harness.start()
    context = CountingContext()
    client = RpcClient(context, endpoint, attempt_timeout=0.2)
    calling: asyncio.Task | None = None
    try:
        assert (await client.call(ECHO, {"text": "a"})).text == "a"
        assert context.opened == 1
        await harness.stop_server()
        calling = asyncio.create_task(client.call(ECHO, {"text": "after"}, timeout=5))
        # The pooled socket's attempt timed out and the retry went out on a socket of its own:
        # only then does the server come back, so the answer can only come from a retry.
        await wait_for(lambda: context.opened >= 2 or calling.done(), timeout=3, message="a retry on a fresh socket")
        assert not calling.done(), calling
        restarted = harnesses(endpoint, context=harness.context)
        await restarted.start()
        result = await asyncio.wait_for(calling, 5)
        assert result.text == "after" and restarted.calls == 1
    finally:
        if calling is not None:
            calling.cancel()
            await asyncio.gather(calling, return_exceptions=True)
        client.close()
        context.destroy(0)


async def test_slow_retry_safe_handler_runs_once_and_answers_the_retry(endpoint: str, harnesses) -> None:
    """Attempts time out at 0.2 s while the handler takes 0.8 s: the retries join the running
    request instead of starting it again, and the caller gets the one result."""
    harness = harnesses(endpoint)
    await harness.start()
    client = harness.client(attempt_timeout=0.2)
    result = await client.call(ECHO, {"text": "slow", "delay": 0.8}, timeout=3)
    assert result == EchoResult(text="slow", calls=1)
    assert harness.calls == 1


async def test_curve_over_tcp(harnesses) -> None:
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    keys = CurveKeys(server_public, server_secret, client_public, client_secret)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    harness = harnesses(endpoint, curve=keys)
    await harness.start()
    assert (await harness.client().call(ECHO, {"text": "secure"})).text == "secure"
    # A client that does not know the server's key cannot talk to it.
    wrong = CurveKeys(zmq.curve_keypair()[0], None, client_public, client_secret)
    stranger = RpcClient(harness.context, endpoint, curve=wrong)
    with pytest.raises(RpcTimeout):
        await stranger.call(ECHO, {"text": "x"}, timeout=0.5)
    stranger.close()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_curve_server_admits_only_the_configured_client_key(harnesses) -> None:
    """Knowing the server's public key (it is public) is not enough: a client with another key
    pair, or a plain socket without CURVE, gets no answer and runs no handler."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    harness = harnesses(endpoint, curve=CurveKeys(server_public, server_secret, client_public, client_secret))
    await harness.start()
    impostor = RpcClient(harness.context, endpoint, curve=CurveKeys(server_public, None, *zmq.curve_keypair()))
    try:
        with pytest.raises(RpcTimeout):
            await impostor.call(ECHO, {"text": "let me in"}, timeout=0.5)
    finally:
        impostor.close()
    plain = harness.context.socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    plain.connect(endpoint)
    try:
        await plain.send(encode_request("r1", ECHO.name, time.time() + 5, {"text": "in clear"}))
        assert await plain.poll(500, zmq.POLLIN) == 0
    finally:
        plain.close(linger=0)
    assert harness.calls == 0
    assert (await harness.client().call(ECHO, {"text": "ours"})).text == "ours"


def test_no_rpc_socket_over_tcp_without_curve_keys() -> None:
    context = zmq.asyncio.Context()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    try:
        with pytest.raises(ConfigError, match="tcp:// needs CURVE keys"):
            RpcClient(context, endpoint)
        with pytest.raises(ConfigError, match="tcp:// needs CURVE keys"):
            RpcServer(context, endpoint, "testsvc")
    finally:
        context.destroy(0)


def test_an_endpoint_straight_in_a_shared_sticky_folder_leaves_it_shared(tmp_path: Path) -> None:
    """prepare_endpoint tightens the run dir to 0700, but never a folder like /tmp that an
    operator may put an ipc:// socket in directly (as root, it would lock every other user out)."""
    import os
    import stat

    from common.ipc.endpoints import prepare_endpoint

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    prepare_endpoint(f"ipc://{shared}/bot.ipc", "ATCS_ENDPOINT_BOT")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    private = tmp_path / "run"
    private.mkdir(mode=0o755)
    prepare_endpoint(f"ipc://{private}/bot.ipc", "ATCS_ENDPOINT_BOT")
    assert stat.S_IMODE(private.stat().st_mode) == 0o700


async def test_each_client_gets_its_own_answer_though_both_count_their_calls(endpoint: str, harnesses) -> None:
    """The server keeps replies by request id (for retries): two clients of one server, each
    numbering its calls, must never be handed the other's stored answer."""
    harness = harnesses(endpoint)
    await harness.start()
    first, second = harness.client(), harness.client()
    for round_ in range(20):
        mine, theirs = await asyncio.gather(first.call(ECHO, {"text": f"first {round_}"}),
                                            second.call(ECHO, {"text": f"second {round_}"}))
        assert (mine.text, theirs.text) == (f"first {round_}", f"second {round_}")
    assert harness.calls == 40


async def test_a_failing_handler_frees_its_slot(endpoint: str, harnesses) -> None:
    harness = harnesses(endpoint)
    await harness.start()
    client = harness.client()
    for _ in range(3):
        with pytest.raises(RpcError):
            await client.call(ECHO, {"text": "boom"})
    assert harness.server.inflight == 0
    assert (await client.call(ECHO, {"text": "after"})).text == "after"


async def test_a_burst_from_many_clients_is_answered_whole(endpoint: str, harnesses) -> None:
    """Requests are read on the socket's edge-triggered descriptor: replies sent while requests keep
    arriving must not leave any of them unread (each would hang until its deadline)."""
    harness = harnesses(endpoint)
    await harness.start()
    clients = [harness.client(default_timeout=5.0) for _ in range(4)]
    answers = await asyncio.gather(*(client.call(ECHO, {"text": f"{n}:{i}", "delay": 0.001 * (i % 3)})
                                     for n, client in enumerate(clients) for i in range(150)))
    assert [a.text for a in answers] == [f"{n}:{i}" for n in range(4) for i in range(150)]
    assert harness.calls == 600 and harness.server.inflight == 0


async def test_a_request_sent_before_the_server_reads_is_answered_once_it_does(endpoint: str, harnesses) -> None:
    harness = harnesses(endpoint)
    await harness.start()
    await harness.stop_server()        # bound, then no longer reading: the request waits in the socket
    harness.server = RpcServer(harness.context, harness.endpoint, "testsvc")
    harness.server.handle(PING, lambda _: _pong())
    harness.server.bind()
    client = harness.client(default_timeout=5.0)
    call = asyncio.create_task(client.call(PING))
    await wait_for(lambda: harness.server._socket.get(zmq.EVENTS) & zmq.POLLIN, timeout=5,
                   message="the request queued at the server")
    assert not call.done()
    harness.task = asyncio.create_task(harness.server.serve())
    assert (await asyncio.wait_for(call, 5)).service == "testsvc"


async def test_past_the_inflight_bound_a_request_is_refused_as_overloaded(endpoint: str, harnesses) -> None:
    harness = harnesses(endpoint)
    harness.server = RpcServer(harness.context, harness.endpoint, "testsvc", max_inflight=2)
    release = asyncio.Event()

    async def held(body: EchoBody) -> EchoResult:
        await release.wait()
        return EchoResult(text=body.text, calls=0)
    harness.server.handle(UNSAFE, held)
    harness.server.bind()
    harness.task = asyncio.create_task(harness.server.serve())
    client = harness.client(default_timeout=5.0)
    first = [asyncio.create_task(client.call(UNSAFE, {"text": str(i)})) for i in range(2)]
    await wait_for(lambda: harness.server.inflight == 2, timeout=5, message="two requests in flight")
    with pytest.raises(RpcError) as refused:
        await client.call(UNSAFE, {"text": "third"})
    assert refused.value.code == RpcErrorCode.OVERLOADED
    release.set()
    assert [r.text for r in await asyncio.gather(*first)] == ["0", "1"]


async def _pong() -> PingResult:
    return PingResult(service="testsvc", pid=1, time=time.time())


async def test_an_endpoint_list_skips_a_dead_host_under_one_deadline(harnesses) -> None:
    """Two instances of a service (two hosts): the first is dead. A call that is not retry-safe
    still reaches the second, since the request never left for the dead one (no connection: the
    socket is IMMEDIATE); the dead one is then tried last, so later calls cost it nothing."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    server_keys = CurveKeys(server_public, server_secret, client_public, None)
    client_keys = CurveKeys(server_public, None, client_public, client_secret)
    dead, live = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    harness = harnesses(live, server_keys)
    await harness.start()
    client = RpcClient(harness.context, [dead, live], curve=client_keys, default_timeout=2.0, connect_timeout=0.3)
    harness.clients.append(client)
    first = await client.call(UNSAFE, EchoBody(text="one"))
    assert first.text == "one" and harness.calls == 1
    assert client.quiet() == [dead]
    started = time.monotonic()
    for n in range(5):
        assert (await client.call(UNSAFE, EchoBody(text=str(n)))).text == str(n)
    assert time.monotonic() - started < 0.3 * 5, "the dead endpoint kept costing its connect budget"
    assert harness.calls == 6   # each request carried out once

    # The live one dies too: a call fails at its deadline, it does not hang.
    await harness.stop_server()
    with pytest.raises(RpcTimeout):
        await client.call(ECHO, EchoBody(text="nobody"), timeout=1.0)


async def test_an_endpoint_list_falls_back_when_the_first_stops_answering(harnesses) -> None:
    """The local instance dies while the remote one lives: retry-safe calls move to the remote one
    within the same deadline, and come back to the local one once it answers again."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    server_keys = CurveKeys(server_public, server_secret, client_public, None)
    client_keys = CurveKeys(server_public, None, client_public, client_secret)
    local, remote = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    near, far = harnesses(local, server_keys), harnesses(remote, server_keys)
    await near.start()
    await far.start()
    client = RpcClient(near.context, [local, remote], curve=client_keys, default_timeout=2.0, attempt_timeout=0.3)
    near.clients.append(client)
    await client.call(ECHO, EchoBody(text="a"))
    assert (near.calls, far.calls) == (1, 0)
    await near.stop_server()
    assert (await client.call(ECHO, EchoBody(text="b"))).text == "b"
    assert far.calls == 1 and client.quiet() == [local]
