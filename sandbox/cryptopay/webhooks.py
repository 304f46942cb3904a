"""Webhook delivery of ``invoice_paid`` updates, with retries and misbehaviour.

Each paid invoice becomes one update ``{"update_id", "update_type":
"invoice_paid", "request_date", "payload": <Invoice>}``, serialised once: the
same bytes and signature go out on every retry and every copy, as a real
re-delivery would. A delivery is retried on a non-2xx answer, a timeout or a
connection error, with exponential backoff, up to ``max_attempts`` (the real
service tries 17 times over three days; tests use a handful of milliseconds).

The delivery mode makes the provider misbehave on purpose:

* ``normal``    each update is delivered once;
* ``duplicate`` each update is delivered ``copies`` times, concurrently;
* ``drop``      updates are never sent (only reconciliation finds the payment);
* ``shuffle``   updates are held until ``batch`` of them are waiting (or a
                flush is requested), then delivered one after another in a
                different order than they happened.

Every delivery (each copy counts as one) is recorded with its attempts and
outcome for the control API.

Awkward on purpose, as the real thing can be: a correctly signed update may
claim an invoice is paid while getInvoices still says it is active (what a
leaked token or a forged body looks like, ``publish_invoice_paid`` with any
invoice), and any earlier delivery can be sent again, days later, with its
old ``request_date`` (``replay``). A receiver must trust getInvoices, not the
update, and must not drop a delivery for its date: Crypto Pay re-delivers for
three days.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Optional

import aiohttp
import orjson

from sandbox.cryptopay.signing import SIGNATURE_HEADER, sign
from sandbox.kit.clock import Clock, iso_ms
from sandbox.kit.waiting import Notifier

MODES = ("normal", "duplicate", "drop", "shuffle")
SETTLED = ("delivered", "failed", "dropped", "no_webhook", "cancelled")


@dataclass(frozen=True)
class DeliveryPolicy:
    mode: str = "normal"
    copies: int = 2  # duplicate mode
    batch: int = 2  # shuffle mode: deliver once this many updates are held
    seed: Optional[int] = None  # shuffle mode: reproducible order
    max_attempts: int = 5
    base_delay: float = 0.5  # seconds before the 2nd attempt, doubled each time
    max_delay: float = 30.0
    timeout: float = 10.0  # per attempt

    def validated(self) -> "DeliveryPolicy":
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.copies < 1 or self.batch < 1 or self.max_attempts < 1:
            raise ValueError("copies, batch and max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.timeout <= 0:
            raise ValueError("delays must not be negative and timeout must be positive")
        return self


@dataclass
class Delivery:
    delivery_id: int
    update_id: int
    invoice_id: int
    copy: int
    mode: str
    url: Optional[str]
    outcome: str = "pending"
    attempts: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class _Update:
    update_id: int
    invoice_id: int
    body: bytes
    signature: str
    policy: DeliveryPolicy
    url: Optional[str]


class WebhookDispatcher:
    def __init__(self, token: str, clock: Clock, url: Optional[str], policy: DeliveryPolicy) -> None:
        self._token = token
        self._clock = clock
        self._initial_url = url
        self._initial_policy = policy.validated()
        self.url = url
        self.policy = self._initial_policy
        self._update_ids = itertools.count(1)
        self._delivery_ids = itertools.count(1)
        self._deliveries: list[Delivery] = []
        self._updates: dict[int, _Update] = {}
        self._held: list[tuple[_Update, Delivery]] = []
        self._tasks: set[asyncio.Task] = set()
        self._session: Optional[aiohttp.ClientSession] = None
        self._changed = Notifier()

    # ---- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        await self._cancel_all()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for delivery in self._deliveries:
            if delivery.outcome in ("pending", "held"):
                delivery.outcome = "cancelled"
        self._held.clear()

    async def reset(self) -> None:
        await self._cancel_all()
        self._deliveries.clear()
        self._updates.clear()
        self.url = self._initial_url
        self.policy = self._initial_policy
        self._update_ids = itertools.count(1)
        self._delivery_ids = itertools.count(1)
        await self._changed.notify()

    # ---- configuration ---------------------------------------------------
    def configure(self, **changes) -> DeliveryPolicy:
        known = {f.name for f in fields(DeliveryPolicy)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown delivery settings: {sorted(unknown)}")
        self.policy = replace(self.policy, **changes).validated()
        return self.policy

    # ---- publishing ------------------------------------------------------
    def _new_delivery(self, update: _Update, copy: int) -> Delivery:
        delivery = Delivery(
            delivery_id=next(self._delivery_ids),
            update_id=update.update_id,
            invoice_id=update.invoice_id,
            copy=copy,
            mode=update.policy.mode,
            url=update.url,
        )
        self._deliveries.append(delivery)
        return delivery

    async def publish_invoice_paid(self, invoice: dict) -> int:
        update_id = next(self._update_ids)
        body = orjson.dumps(
            {
                "update_id": update_id,
                "update_type": "invoice_paid",
                "request_date": iso_ms(self._clock.now()),
                "payload": invoice,
            }
        )
        update = _Update(
            update_id=update_id,
            invoice_id=invoice["invoice_id"],
            body=body,
            signature=sign(self._token, body),
            policy=self.policy,
            url=self.url,
        )
        self._updates[update_id] = update
        mode = update.policy.mode
        if mode == "drop":
            self._new_delivery(update, 1).outcome = "dropped"
        elif mode == "duplicate":
            for copy in range(1, update.policy.copies + 1):
                self._spawn(self._deliver(update, self._new_delivery(update, copy)))
        elif mode == "shuffle":
            delivery = self._new_delivery(update, 1)
            delivery.outcome = "held"
            self._held.append((update, delivery))
            if len(self._held) >= update.policy.batch:
                self.flush()
        else:
            self._spawn(self._deliver(update, self._new_delivery(update, 1)))
        await self._changed.notify()
        return update_id

    async def replay(self, delivery_id: int, request_date: Optional[str] = None) -> int:
        """Send the update of an earlier delivery again, now, to the current URL: the same bytes
        and signature (its ``request_date`` is as old as the first delivery), or, with
        ``request_date``, the same update dated so and signed again, as a retry days later would
        be. Returns the new delivery's id."""
        earlier = next((d for d in self._deliveries if d.delivery_id == delivery_id), None)
        if earlier is None or earlier.update_id not in self._updates:
            raise KeyError(f"no delivery {delivery_id}")
        original = self._updates[earlier.update_id]
        body, signature = original.body, original.signature
        if request_date is not None:
            update = orjson.loads(body)
            update["request_date"] = request_date
            body = orjson.dumps(update)
            signature = sign(self._token, body)
        again = replace(original, body=body, signature=signature, url=self.url,
                        policy=replace(self.policy, mode="normal"))
        copies = sum(1 for d in self._deliveries if d.update_id == earlier.update_id)
        delivery = self._new_delivery(again, copies + 1)
        delivery.mode = "replay"
        self._spawn(self._deliver(again, delivery))
        await self._changed.notify()
        return delivery.delivery_id

    def flush(self) -> int:
        """Send the held (shuffle mode) updates, in an order different from the
        one they happened in, one after another. Returns how many were held."""
        held, self._held = self._held, []
        if not held:
            return 0
        order = list(held)
        random.Random(self.policy.seed).shuffle(order)
        if len(order) > 1 and [d.delivery_id for _, d in order] == [d.delivery_id for _, d in held]:
            order.reverse()  # a shuffle that keeps the order would test nothing
        for _, delivery in order:
            delivery.outcome = "pending"

        async def deliver_in_order() -> None:
            for update, delivery in order:
                await self._deliver(update, delivery)

        self._spawn(deliver_in_order())
        return len(held)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, update: _Update, delivery: Delivery) -> None:
        if update.url is None:
            delivery.outcome = "no_webhook"
            await self._changed.notify()
            return
        assert self._session is not None, "dispatcher not started"
        policy = update.policy
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: update.signature}
        loop = asyncio.get_running_loop()
        for attempt in range(1, policy.max_attempts + 1):
            started = loop.time()
            record: dict = {"attempt": attempt, "at": iso_ms(self._clock.now())}
            try:
                async with self._session.post(
                    update.url,
                    data=update.body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=policy.timeout),
                ) as response:
                    await response.read()
                    record["status"] = response.status
            except asyncio.TimeoutError:
                record["error"] = "timeout"
            except aiohttp.ClientError as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
            record["duration_ms"] = round((loop.time() - started) * 1000, 1)
            delivery.attempts.append(record)
            if 200 <= record.get("status", 0) < 300:
                delivery.outcome = "delivered"
                await self._changed.notify()
                return
            await self._changed.notify()
            if attempt < policy.max_attempts:
                # Backoff between attempts, as the real service spaces its retries.
                await asyncio.sleep(min(policy.base_delay * 2 ** (attempt - 1), policy.max_delay))
        delivery.outcome = "failed"
        await self._changed.notify()

    # ---- observation -----------------------------------------------------
    def deliveries(self) -> list[dict]:
        return [d.to_json() for d in self._deliveries]

    def settled_count(self) -> int:
        return sum(1 for d in self._deliveries if d.outcome in SETTLED)

    async def wait_settled(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` deliveries have a final outcome."""
        return await self._changed.wait_for(lambda: self.settled_count() >= count, timeout)

    async def wait_for(self, predicate, timeout: float) -> bool:
        return await self._changed.wait_for(predicate, timeout)
