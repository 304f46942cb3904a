"""Issue 16.2, 16.3 and 16.7 as an operator (or an intruder on the same machine) would try them,
against real service processes:

- a second `python -m services.<name>` with the same configuration refuses to start, within 5 s,
  with one line naming the running one's PID, and the running one answers RPC throughout;
- a second bot polling the same token is refused the same way, before it imports aiogram (seconds
  of CPU on a busy machine), and the token is never a file name;
- a process killed with SIGKILL leaves no lock behind that blocks its restart;
- no process talks to a tcp:// peer in clear: a missing CURVE key stops it at start (exit 2, the
  variable named), and a running tcp:// server answers no client without the deployment's keys.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from common.paths import REPO_ROOT
from common.settings.ipc import SERVICES
from common.contract.core import PING
from common.ipc import RpcClient, RpcError, RpcTimeout
from common.ipc.endpoints import CurveKeys
from common.ipc.envelope import encode_request
from sandbox.telegram.server import TelegramStandIn
from tests.bot.processes import ServiceProcess, service_env
from tests.support.ports import free_port
from tests.support.wait import wait_for

TOKEN = "424242:SECURITY-TEST-TOKEN"
REFUSAL_BOUND = 5.0


@pytest.fixture
def run_dir() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sec-", dir="/tmp"))  # short: ipc paths are length-limited
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def zctx() -> AsyncIterator[zmq.asyncio.Context]:
    context = zmq.asyncio.Context()
    yield context
    context.destroy(linger=0)


def _env(database_url: str, run_dir: Path, **extra: str) -> dict[str, str]:
    ports = {f"ATCS_HEALTH_PORT_{s.upper()}": str(free_port()) for s in SERVICES}
    return service_env(
        ATCS_DATABASE_URL=database_url,
        ATCS_RUN_DIR=str(run_dir),
        ATCS_PAYMENTS_PORT=str(free_port()),
        ATCS_BACKUP_ENABLED="false",
        ATCS_SHUTDOWN_TIMEOUT="5",
        **ports,
        **extra,
    )


async def _started(service: str, env: dict[str, str], log: Path, client: RpcClient) -> ServiceProcess:
    process = ServiceProcess(service, env, log)
    process.start()

    async def answers() -> bool:
        assert process.alive, process.log()[-3000:]
        return (await client.call(PING, timeout=0.5)).pid == process.process.pid
    await wait_for(answers, timeout=20, message=f"{service} answering ping")
    return process


async def _run_to_exit(env: dict[str, str], service: str, bound: float,
                       python_options: tuple[str, ...] = ()) -> tuple[int, str, float]:
    """Starts `python -m services.<service>` and waits for it to exit on its own within `bound`."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, *python_options, "-m", f"services.{service}", cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), bound)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"a second {service} was still running after {bound}s") from None
    return process.returncode, (out + err).decode(errors="replace"), time.monotonic() - started


def _plain_lines(output: str) -> list[str]:
    """What the process printed outside its JSON log records (and `-X importtime`'s lines)."""
    return [line for line in output.splitlines()
            if line.strip() and not line.startswith("{") and not line.startswith("import time:")]


def _imported(output: str) -> set[str]:
    """The modules a process run with `-X importtime` imported."""
    return {line.rsplit("|", 1)[-1].strip() for line in output.splitlines() if line.startswith("import time:")}


async def _keeps_answering(client: RpcClient, pid: int, until: asyncio.Future) -> int:
    answered = 0
    while not until.done():
        pong = await client.call(PING, timeout=1.0)
        assert pong.pid == pid
        answered += 1
        await asyncio.sleep(0.05)  # paces the probe; the condition waited for is `until`
    return answered


@pytest.mark.parametrize("service", SERVICES)
async def test_a_second_instance_refuses_and_the_first_keeps_answering(
        service: str, database_url: str, run_dir: Path, zctx: zmq.asyncio.Context, tmp_path: Path) -> None:
    env = _env(database_url, run_dir)
    client = RpcClient(zctx, f"ipc://{run_dir}/{service}.ipc", default_timeout=2.0, attempt_timeout=0.3)
    first = await _started(service, env, tmp_path / "first.log", client)
    try:
        second = asyncio.ensure_future(_run_to_exit(env, service, REFUSAL_BOUND))
        answered = await _keeps_answering(client, first.process.pid, second)
        code, output, took = await second
        assert code != 0 and took < REFUSAL_BOUND, (code, took, output)
        refusal = _plain_lines(output)
        assert len(refusal) == 1, output
        assert f"pid {first.process.pid}" in refusal[0], refusal
        assert "Traceback" not in output
        assert answered >= 1
        # ...and after the second one is gone, the first still owns its socket.
        assert (await client.call(PING, timeout=1.0)).pid == first.process.pid
    finally:
        client.close()
        first.stop()


async def test_a_second_bot_polling_the_same_token_refuses(database_url: str, run_dir: Path,
                                                           zctx: zmq.asyncio.Context, tmp_path: Path) -> None:
    """Another endpoint (so the endpoint lock does not apply), the same token: still refused."""
    async with TelegramStandIn(token=TOKEN) as standin:
        env = _env(database_url, run_dir, ATCS_BOT_TOKEN=TOKEN, ATCS_TELEGRAM_API_URL=standin.url,
                   ATCS_POLLING_TIMEOUT="1")
        client = RpcClient(zctx, f"ipc://{run_dir}/bot.ipc", default_timeout=2.0, attempt_timeout=0.3)
        first = await _started("bot", env, tmp_path / "first.log", client)
        try:
            other = {**env, "ATCS_ENDPOINT_BOT": f"ipc://{run_dir}/bot-by-hand.ipc",
                     "ATCS_HEALTH_PORT_BOT": str(free_port())}
            code, output, took = await _run_to_exit(other, "bot", REFUSAL_BOUND, ("-X", "importtime"))
            assert code != 0 and took < REFUSAL_BOUND, (code, took, output)
            refusal = _plain_lines(output)
            assert len(refusal) == 1 and f"pid {first.process.pid}" in refusal[0], output
            assert "polling of this bot token" in refusal[0]
            # Refused in the cheap phase: neither aiogram nor the bot's own modules were loaded.
            imported = _imported(output)
            assert "common.lifecycle.entry" in imported     # the log is read right
            assert not {m for m in imported if m.startswith(("aiogram", "services.bot.app", "zmq", "aiohttp"))}
            secret = TOKEN.split(":", 1)[1]
            assert secret not in output
            assert not [p for p in run_dir.iterdir() if secret in p.name or TOKEN.split(":")[0] in p.name]
            assert (await client.call(PING, timeout=1.0)).pid == first.process.pid
        finally:
            client.close()
            first.stop()


async def test_a_killed_service_restarts_at_once(database_url: str, run_dir: Path, zctx: zmq.asyncio.Context,
                                                tmp_path: Path) -> None:
    """flock dies with its holder: the lock file left by kill -9 never blocks the restart."""
    env = _env(database_url, run_dir)
    client = RpcClient(zctx, f"ipc://{run_dir}/payments.ipc", default_timeout=2.0, attempt_timeout=0.3)
    try:
        first = await _started("payments", env, tmp_path / "first.log", client)
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        assert (run_dir / "payments.ipc.lock").exists()
        again = await _started("payments", env, tmp_path / "again.log", client)
        again.stop()
    finally:
        client.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_a_tcp_peer_without_client_keys_stops_the_start(service: str, database_url: str,
                                                              run_dir: Path) -> None:
    peer = next(s for s in SERVICES if s != service)
    variable = f"ATCS_ENDPOINT_{peer.upper()}"
    env = _env(database_url, run_dir, **{variable: f"tcp://127.0.0.1:{free_port()}"})
    code, output, took = await _run_to_exit(env, service, REFUSAL_BOUND)
    assert code == 2 and took < REFUSAL_BOUND, (code, took, output)
    lines = _plain_lines(output)
    assert len(lines) == 1 and variable in lines[0] and "CURVE" in lines[0], output
    assert "Traceback" not in output

    # Server keys alone are not enough to be a client: the missing client key is named.
    server_public, server_secret = zmq.curve_keypair()
    env.update(ATCS_CURVE_SERVER_PUBLIC=server_public.decode(), ATCS_CURVE_SERVER_SECRET=server_secret.decode())
    code, output, _ = await _run_to_exit(env, service, REFUSAL_BOUND)
    lines = _plain_lines(output)
    assert code == 2 and len(lines) == 1 and "ATCS_CURVE_CLIENT_SECRET" in lines[0], output


async def test_a_tcp_service_answers_only_clients_with_the_deployment_keys(
        database_url: str, run_dir: Path, zctx: zmq.asyncio.Context, tmp_path: Path) -> None:
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    env = _env(database_url, run_dir, ATCS_ENDPOINT_PAYMENTS=endpoint,
               ATCS_CURVE_SERVER_PUBLIC=server_public.decode(), ATCS_CURVE_SERVER_SECRET=server_secret.decode(),
               ATCS_CURVE_CLIENT_PUBLIC=client_public.decode(), ATCS_CURVE_CLIENT_SECRET=client_secret.decode())
    ours = RpcClient(zctx, endpoint, curve=CurveKeys(server_public, None, client_public, client_secret),
                     default_timeout=2.0, attempt_timeout=0.3)
    service = await _started("payments", env, tmp_path / "payments.log", ours)
    impostor = RpcClient(zctx, endpoint, curve=CurveKeys(server_public, None, *zmq.curve_keypair()))
    plain = zctx.socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    try:
        with pytest.raises((RpcTimeout, RpcError)):
            await impostor.call(PING, timeout=1.0)
        plain.connect(endpoint)
        await plain.send(encode_request("clear", PING.name, time.time() + 5, {}))
        assert await plain.poll(1000, zmq.POLLIN) == 0, "a client without CURVE keys got an answer"
        assert (await ours.call(PING, timeout=1.0)).pid == service.process.pid
    finally:
        plain.close(linger=0)
        impostor.close()
        ours.close()
        service.stop()
