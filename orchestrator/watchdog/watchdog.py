"""`Watchdog`: self-hosted crash recovery, the agent dispatched again when its worker is lost.

LiveKit Cloud dispatches a lost job again; the open-source server drops it, and the caller
stays on hold in silence. The watchdog receives the server's webhooks and, when an agent
leaves a room whose caller still carries a transfer checkpoint, dispatches the agent to that
room again (`CreateDispatch`); the new job's `WarmTransfer.recover()` finishes or unwinds
the transfer. It also sweeps the room list on start and every `sweep_seconds`, for losses
whose webhook it never got. What counts as a loss, and how it is handled once by one
watchdog among several, is in `watchdog.decide`.

```python
async with Watchdog(url, key, secret, agent_name="support") as watchdog:
    answer = watchdog.receive(body, request.headers.get("Authorization"))
```
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import string
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from orchestrator.clock import Clock, RealClock
from orchestrator.errors import LiveKitError
from orchestrator.livekit import Gateway
from orchestrator.livekit.address import check_url, is_cloud
from orchestrator.livekit.dispatches import (
    Dispatch,
    create_dispatch,
    list_dispatches,
    list_rooms,
)
from orchestrator.livekit.webhooks import WebhookRefused, verify_webhook
from orchestrator.logs import mask
from orchestrator.watchdog.decide import (
    CLAIM_KEY,
    Loss,
    Skip,
    assess,
    checkpointed_caller,
    confirm,
    metadata_for,
    stale_claims,
)
from orchestrator.watchdog.metrics import Metrics

__all__ = [
    "DISPATCH_RETRIES_S",
    "Received",
    "Watchdog",
    "new_watchdog_id",
]

DISPATCH_RETRIES_S = (0.5, 1.0, 2.0)
"""Pauses before the second, third and fourth CreateDispatch; then the loss is given up
(the next sweep finds it again, up to `decide.MAX_DISPATCHES` dispatches per transfer)."""
_DEPARTURES = frozenset({"participant_left", "participant_connection_aborted"})
_REMEMBERED = 10_000  # losses seen, for duplicate deliveries
_FAILURES = (LiveKitError, aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Received:
    """The answer to one webhook: HTTP `status`, and what became of it (`accepted`,
    `ignored`, `duplicate`, or `refused_<why>`)."""

    status: int
    result: str


class Watchdog:
    """Receives LiveKit webhooks and sweeps rooms; dispatches `agent_name` again on a loss.

    Args:
        url, api_key, api_secret: the LiveKit server (the key needs the `roomAdmin`,
            `roomList` and `agent` grants: the defaults of a key in livekit-server's config)
            and the key its webhooks are signed with.
        agent_name: the agent to dispatch (your worker's `agent_name`).
        sweep_seconds: how often the room list is swept (also once at start).
        confirm_seconds: how long a sweep waits before acting on what it found, so that a
            webhook on its way is handled first.
        settle_seconds: how long a claim is left to land before it is read back.
        cloud: run even though `url` is LiveKit Cloud (which recovers jobs itself).
        clock: simulated time, for tests.

    Raises:
        ValueError: a URL the client could not call (see `check_url`), an empty agent
            name, a sweep period not a finite number above 0, or LiveKit Cloud without
            `cloud=True`.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        agent_name: str,
        sweep_seconds: float = 30.0,
        confirm_seconds: float = 5.0,
        settle_seconds: float = 1.0,
        cloud: bool = False,
        clock: Clock | None = None,
    ) -> None:
        check_url(url)
        if not agent_name.strip():
            raise ValueError("agent_name: name the agent your workers register (agent_name=)")
        if not 0 < sweep_seconds < math.inf:
            raise ValueError(f"sweep_seconds: must be a number above 0, got {sweep_seconds}")
        if is_cloud(url) and not cloud:
            raise ValueError(
                "url: LiveKit Cloud dispatches lost jobs again itself; pass cloud=True "
                "(--cloud) to run the watchdog anyway"
            )
        self.url, self.api_key, self._secret = url, api_key, api_secret
        self.agent_name = agent_name
        self.sweep_seconds = sweep_seconds
        self.confirm_seconds = confirm_seconds
        self.settle_seconds = settle_seconds
        self.clock: Clock = clock or RealClock()
        self.id = new_watchdog_id()
        """This watchdog's name in the claims it writes."""
        self.metrics = Metrics()
        # Not `.bind()` here: that would fix the logging configuration of this moment, and
        # an application (or the CLI) may configure logging after making the watchdog.
        self._log = structlog.get_logger(
            "orchestrator.watchdog", transfer_id=None, flow=None, watchdog=self.id
        )
        self._gateway: Gateway | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._waiting: dict[str, str] = {}  # claimed losses without an agent at the last sweep
        self._sweeping = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, sweep: bool = True) -> None:
        """Connect to LiveKit and (unless `sweep=False`) start sweeping."""
        self._gateway = Gateway(self.url, self.api_key, self._secret)
        if sweep:
            self._sweeper = asyncio.ensure_future(self._sweep_forever())
        self._log.info("watchdog.started", agent_name=self.agent_name)

    async def aclose(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sweeper = None
        if self._gateway is not None:
            await self._gateway.close()
            self._gateway = None

    async def __aenter__(self) -> Watchdog:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    @property
    def busy(self) -> int:
        """Losses being handled now, and sweeps running."""
        return len(self._tasks) + self._sweeping

    # -- webhooks -------------------------------------------------------------------------

    def receive(self, body: bytes, authorization: str | None) -> Received:
        """Verify one webhook and, for an agent that left a room, start handling the loss.
        Returns at once (LiveKit waits for the answer); the loss is handled in the background.
        """
        try:
            event = verify_webhook(body, authorization, self.api_key, self._secret)
        except WebhookRefused as refused:
            self.metrics.count("webhooks", f"refused_{refused.why}")
            self._log.warning("watchdog.webhook_refused", why=refused.why)
            return Received(400 if refused.why == "malformed" else 401, f"refused_{refused.why}")
        if event.event not in _DEPARTURES or not event.agent or event.room_deleted:
            self.metrics.count("webhooks", "ignored")
            return Received(200, "ignored")
        if not self._first((event.room, event.identity, event.sid)):
            self.metrics.count("webhooks", "duplicate")
            return Received(200, "duplicate")
        self.metrics.count("webhooks", "accepted")
        self._log.info("watchdog.agent_left", room=mask(event.room), agent=mask(event.identity))
        self._spawn(self._handle(event.room, event.identity, sid=event.sid))
        return Received(200, "accepted")

    def _first(self, key: tuple[str, str, str]) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return True

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the sweep ------------------------------------------------------------------------

    async def sweep(self) -> None:
        """List the rooms; dispatch where a checkpointed caller has no agent. A loss nobody
        has claimed is handled after `confirm_seconds`; one already claimed (the agent
        dispatched did not come) only when the next sweep still finds it so."""
        self._sweeping += 1
        try:
            await self._sweep(self._connected())
        finally:
            self._sweeping -= 1

    async def _sweep(self, gateway: Gateway) -> None:
        self.metrics.count("sweeps")
        found: dict[str, str] = {}
        waiting: dict[str, str] = {}
        for room in await list_rooms(gateway, self._log):
            try:
                listed = await gateway.list_participants(self._log, room)
            except _FAILURES as error:  # the others are still swept
                self.metrics.count("errors", "sweep")
                self._log.warning("watchdog.sweep_failed", room=mask(room), error=_name(error))
                continue
            for identity in stale_claims(listed):  # a tidy caller once recovered
                with contextlib.suppress(*_FAILURES):
                    await gateway.set_attributes(self._log, room, identity, {CLAIM_KEY: ""})
            loss = assess(room, listed, None, self.id)
            caller = checkpointed_caller(listed)
            if not isinstance(loss, Loss) or caller is None:
                continue
            claimed = caller.attributes.get(CLAIM_KEY, "")
            if loss.claim.generation > 1 and self._waiting.get(room) != claimed:
                waiting[room] = claimed  # give the dispatched agent until the next sweep
                continue
            found[room] = claimed
        self._waiting = waiting
        self._log.info("watchdog.swept", found=len(found), waiting=len(waiting))
        if found:
            await self.clock.sleep(self.confirm_seconds)
        for room, claimed in found.items():
            self._spawn(self._handle(room, None, claimed))

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except _FAILURES as error:
                self.metrics.count("errors", "sweep")
                self._log.warning("watchdog.sweep_failed", error=_name(error))
            except Exception as error:  # a bug of ours must not stop the sweeps
                self.metrics.count("errors", "internal")
                self._log.error("watchdog.internal_error", error=type(error).__name__)
            await self.clock.sleep(self.sweep_seconds)

    # -- one loss -------------------------------------------------------------------------

    async def _handle(
        self, room: str, departed: str | None, seen: str | None = None, *, sid: str = ""
    ) -> None:
        gateway = self._connected()
        log = self._log.bind(room=mask(room))
        try:
            listed = await gateway.list_participants(log, room)
            caller = checkpointed_caller(listed)
            if (
                seen is not None
                and caller is not None
                and caller.attributes.get(CLAIM_KEY, "") != seen
            ):
                return self._skip(log, Skip("handled"))  # claimed since the sweep looked
            found = assess(room, listed, departed, self.id, sid=sid)
            if isinstance(found, Skip):
                return self._skip(log, found)
            log = log.bind(transfer_id=found.claim.transfer_id)
            claim = {CLAIM_KEY: found.claim.render()}
            await gateway.set_attributes(log, room, found.caller, claim)
            await self.clock.sleep(self.settle_seconds)  # other watchdogs' claims land
            confirmed = confirm(found, await gateway.list_participants(log, room))
            if isinstance(confirmed, Skip):
                return self._skip(log, confirmed)
            await self._dispatch(gateway, log, confirmed)
        except _FAILURES as error:
            self.metrics.count("errors", "livekit")
            log.warning("watchdog.failed", error=_name(error))
        except Exception as error:  # a bug of ours: said, and the next sweep tries again
            self.metrics.count("errors", "internal")
            log.error("watchdog.internal_error", error=type(error).__name__)

    def _skip(self, log: Any, skip: Skip) -> None:
        self.metrics.count("decisions", skip.why)
        log.info("watchdog.skipped", why=skip.why)

    async def _dispatch(self, gateway: Gateway, log: Any, loss: Loss) -> None:
        """CreateDispatch with bounded retries; a failed attempt whose dispatch landed after
        all (the answer was lost) is not made twice. No attempt is made, and none retried,
        without a `ListDispatch` answer saying what the room held before it and after it:
        when LiveKit cannot say, the watchdog stops there (logged) and a later sweep decides.
        """
        before = await self._list_dispatches(gateway, log, loss.room)
        if before is None:
            return self._undetermined(log, attempts=0)
        metadata = metadata_for(before, self.agent_name, loss.departed)
        error: BaseException | None = None
        for attempt, pause in enumerate((*DISPATCH_RETRIES_S, None), 1):
            self.metrics.count("dispatch_attempts")
            try:
                dispatch = await create_dispatch(
                    gateway, log, loss.room, self.agent_name, metadata
                )
            except _FAILURES as failed:
                error = failed
                if isinstance(failed, LiveKitError) and not failed.retryable:
                    break
            else:
                return self._dispatched(log, loss, dispatch, attempt)
            if pause is None:
                break
            await self.clock.sleep(pause)
            now = await self._list_dispatches(gateway, log, loss.room)
            if now is None:  # the attempt may have landed: never made twice blindly
                return self._undetermined(log, attempts=attempt)
            if self._count(now) > self._count(before):
                return self._dispatched(log, loss, "", attempt)
        self.metrics.count("dispatch_failures")
        self.metrics.count("decisions", "dispatch_failed")
        log.error(
            "watchdog.dispatch_failed",
            agent_name=self.agent_name,
            attempts=attempt,
            error=_name(error) if error is not None else None,
        )

    async def _list_dispatches(
        self, gateway: Gateway, log: Any, room: str
    ) -> list[Dispatch] | None:
        """The room's dispatches, asked again after each of `DISPATCH_RETRIES_S` while LiveKit
        fails in a way it may recover from; None when it could not say."""
        for pause in (*DISPATCH_RETRIES_S, None):
            try:
                return await list_dispatches(gateway, log, room)
            except _FAILURES as failed:
                if pause is None or (isinstance(failed, LiveKitError) and not failed.retryable):
                    return None
            await self.clock.sleep(pause)
        return None  # pragma: no cover - the loop returns

    def _count(self, dispatches: list[Dispatch]) -> int:
        return sum(d.agent_name == self.agent_name for d in dispatches)

    def _undetermined(self, log: Any, *, attempts: int) -> None:
        """ListDispatch failed: whether a dispatch exists is unknown, so none is made now (the
        claim stays; a later sweep that still finds no agent dispatches, within the bound)."""
        self.metrics.count("errors", "livekit")
        self.metrics.count("decisions", "dispatch_undetermined")
        log.error(
            "watchdog.dispatch_undetermined",
            agent_name=self.agent_name,
            attempts=attempts,
            error="list_dispatch_failed",
        )

    def _dispatched(self, log: Any, loss: Loss, dispatch: str, attempts: int) -> None:
        self.metrics.count("decisions", "dispatched")
        log.info(
            "watchdog.dispatched",
            agent_name=self.agent_name,
            dispatch_id=dispatch or None,
            checkpoint=loss.state,
            generation=loss.claim.generation,
            attempts=attempts,
            lost_agent=mask(loss.departed) or None,
        )

    def _connected(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the watchdog is not started: use `async with` or start()")
        return self._gateway


def new_watchdog_id() -> str:
    """Eight lowercase letters: like the engine's transfer ids, never a run of digits that a
    log masker (or a reader) could take for a number."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))


def _name(error: BaseException) -> str:
    return error.code if isinstance(error, LiveKitError) else type(error).__name__
