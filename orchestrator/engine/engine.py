"""`TransferEngine`: starts transfers for callers, one at a time per caller."""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import Iterator
from typing import Any

from orchestrator.clock import Clock, RealClock, wall_time
from orchestrator.engine.checkpoint import (
    abandon,
    attributes,
    claim,
    holder,
    new_transfer_id,
    refuse_if_held,
)
from orchestrator.engine.inflight import InFlight
from orchestrator.engine.merged_call import MergedCall
from orchestrator.engine.outcome import TransferOutcome
from orchestrator.engine.ports import Media, RoomEvents
from orchestrator.engine.presence import rejoined
from orchestrator.engine.recovery import recover, recover_without_caller
from orchestrator.engine.strategy import choose
from orchestrator.engine.transfer import Transfer
from orchestrator.errors import LiveKitError, TransferError, TransferInProgress
from orchestrator.flow.compiler import compiled
from orchestrator.flow.model import Flow
from orchestrator.livekit import Gateway, Participant, probe
from orchestrator.livekit.names import (
    CHECKPOINT_KEYS,
    PHONE_NUMBER,
    consult_room,
    is_supervisor_leg,
)
from orchestrator.livekit.probe import Capabilities
from orchestrator.logs import mask
from orchestrator.telemetry import get_logger

__all__ = ["TransferEngine"]

# The engines of each event loop (the jobs of one worker process), so that one of them does
# not start a transfer for a caller another one is transferring: the claim on the caller
# cannot tell in every case (a reconnect wipes it until the running transfer writes it back).
_PEERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet[TransferEngine]]
_PEERS = weakref.WeakKeyDictionary()


class TransferEngine:
    """Runs flows against one LiveKit deployment.

    Args:
        url, api_key, api_secret: the LiveKit server (default: `LIVEKIT_URL`,
            `LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET`).
        media: hold audio, speech and answer screening, from the agent worker.
        trunk: outbound SIP trunk id, unless the flow names one (default:
            `LIVEKIT_SIP_OUTBOUND_TRUNK`).
        clock: simulated time for simulations and tests; real time by default.
        capabilities: what the server allows, if known (skips the probes made before the
            first transfer; see `capabilities()`).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        media: Media,
        trunk: str | None = None,
        clock: Clock | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        url = url or os.environ.get("LIVEKIT_URL", "")
        api_key = api_key or os.environ.get("LIVEKIT_API_KEY", "")
        api_secret = api_secret or os.environ.get("LIVEKIT_API_SECRET", "")
        if not (url and api_key and api_secret):
            raise TransferError(
                "LiveKit credentials missing: pass url, api_key and api_secret, or set "
                "LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET",
                reason="config_error",
            )
        self.gateway = Gateway(url, api_key, api_secret)
        self.media = media
        self.trunk = trunk or os.environ.get("LIVEKIT_SIP_OUTBOUND_TRUNK", "")
        self.clock: Clock = clock or RealClock()
        self.active: dict[str, Transfer] = {}
        self.calls: dict[str, MergedCall] = {}
        """Merged calls this engine watches until one side hangs up, by caller room."""
        self._starting: set[str] = set()
        self._dead_claims: dict[str, str] = {}
        """Claims this engine wrote for starts that failed and could not take them back,
        by caller room: told apart from a live claim, they refuse no later start."""
        self._log = get_logger("orchestrator.transfer", clock=self.clock)
        self._known = capabilities
        self._closed = False
        self._no_starts = asyncio.Event()
        self._no_starts.set()
        self._peers = _PEERS.setdefault(asyncio.get_running_loop(), weakref.WeakSet())
        self._peers.add(self)

    @contextlib.contextmanager
    def _single_flight(self, room: str) -> Iterator[None]:
        """Single flight per caller room while the work before the hold runs, and every way
        that work can fail turned into a `TransferError` that says what to do."""
        if self._busy(room):
            raise TransferInProgress(room)
        peers = (e for e in self._peers if e is not self and e.gateway.key == self.gateway.key)
        if any(peer._busy(room) for peer in peers):  # another job of this worker process
            raise TransferInProgress(room, elsewhere=True)
        self._check_open()
        self._starting.add(room)
        self._no_starts.clear()
        try:
            yield
        except TransferError:
            raise
        except Exception as error:
            self._check_open()  # closed meanwhile: that, not the failure it caused, is news
            if isinstance(error, LiveKitError):
                raise _refused(error) from None
            # The connection itself: refused, reset, closed under us.
            raise TransferError(
                f"LiveKit could not be reached ({type(error).__name__}); try again",
                reason="unavailable",
                retryable=True,
            ) from None
        finally:
            self._starting.discard(room)
            if not self._starting:
                self._no_starts.set()

    def _busy(self, room: str) -> bool:
        """A transfer of this engine for the caller in `room` starts, runs, or was merged
        and is watched."""
        return room in self.active or room in self._starting or room in self.calls

    def _check_open(self) -> None:
        if self._closed:
            raise TransferError("the engine is closed (the job is ending)", reason="cancelled")

    def _forget(self, transfer: Transfer) -> None:
        self.active.pop(transfer.room, None)
        if transfer.kept is not None:  # merged: the call goes on, watched until it ends
            assert transfer.merge.merged_at is not None
            call = self._watch(
                transfer.log,
                transfer.room,
                transfer.caller_identity,
                transfer.kept,
                attributes(
                    transfer.transfer_id,
                    "merged",
                    transfer.consult_room if transfer.strategy == "move" else "",
                ),
                merged_at=transfer.clock.now() - transfer.elapsed() + transfer.merge.merged_at,
            )
            if transfer.saved.written != "merged":  # its write failed: the caller says less
                call.write_checkpoint()
            for room, identity, hung_up in transfer.late_departures:  # during the cleanup
                call.participant_left(room, identity, hung_up=hung_up)

    def _watch(
        self,
        log: Any,
        room: str,
        caller: str,
        supervisor: str,
        checkpoint: dict[str, str],
        *,
        merged_at: float | None = None,
        look: bool = False,
    ) -> MergedCall:
        call = self.calls[room] = MergedCall(
            gateway=self.gateway,
            clock=self.clock,
            log=log,
            room=room,
            caller=caller,
            supervisor=supervisor,
            on_done=self._ended,
            checkpoint=checkpoint,
            merged_at=merged_at,
            look=look,
        )
        return call

    def _ended(self, call: MergedCall) -> None:
        if self.calls.get(call.room) is call:
            del self.calls[call.room]

    def watching(self, room: str) -> RoomEvents | None:
        """Whatever of this engine the events of `room` are for: its running transfer, or
        the merged call it watches; None when neither."""
        return self.active.get(room) or self.calls.get(room)

    async def aclose(self) -> None:
        """End every running transfer (each cleans up) and refuse new ones; a start under
        way ends with reason `cancelled` (and takes back its claim on the caller). Merged
        calls go on, no longer watched (one being ended is ended first)."""
        self._closed = True
        try:
            await self._no_starts.wait()
            for transfer in list(self.active.values()):
                transfer.cancel()
            await asyncio.gather(*(t.outcome for t in list(self.active.values())))
            for call in list(self.calls.values()):
                call.stop()
            await asyncio.gather(*(call.ended for call in list(self.calls.values())))
        finally:
            await self.gateway.close()

    async def _caller(
        self, log: Any, room: str, identity: str | None
    ) -> tuple[Participant, list[Participant]]:
        """The caller's participant, and everyone in the room."""
        participants = await self.gateway.list_participants(log, room)
        for info in participants:
            # A supervisor we dialled (merged, or in_room) is a SIP participant too.
            is_sip = info.kind == "sip"
            ours = is_supervisor_leg(info.attributes)
            if identity and info.identity == identity and not (is_sip and not ours):
                raise TransferError(
                    f"caller_identity names a participant that is not a caller's phone leg "
                    f"(kind {info.kind}{', a supervisor leg' if ours else ''}): pass the "
                    "identity of the caller's SIP participant, or none to find it",
                    reason="config_error",
                )
            if (identity and info.identity == identity) or (not identity and is_sip and not ours):
                return info, participants
        raise TransferError(
            f"no SIP caller in room {mask(room)!r}: the transfer needs the caller's phone leg "
            "in the room (pass caller_identity if there are several)",
            reason="config_error",
        )

    async def _claim_failed(
        self,
        log: Any,
        room: str,
        caller: str,
        transfer_id: str,
        error: BaseException,
        claimed: InFlight,
        version: str,
    ) -> None:
        """A start that wrote its claim and does not go on (`checkpoint.abandon`); a claim
        it could not take back refuses none of this engine's later starts."""
        if self._closed:  # closed meanwhile: that, not the failure it caused, is news
            error = asyncio.CancelledError()
        if not await abandon(
            self.gateway, self.clock, log, (room, caller, transfer_id), error, claimed, version
        ):
            self._dead_claims[room] = transfer_id

    async def capabilities(self, log: Any = None) -> Capabilities:
        """What the server lets this engine do: MoveParticipant, and the grants it needs.

        Asked once per event loop (the engines of a worker's jobs share the answer for
        five minutes), however many transfers start at once, by probes that change nothing
        (see `orchestrator.livekit.probe`); asked again after a failure.
        """
        if self._known is not None:
            return self._known
        log = log or self._log.bind(transfer_id="", flow="")
        return await probe.capabilities(self.gateway, log)

    async def recover(
        self, flow: Flow, *, room: str, caller_identity: str | None = None
    ) -> TransferOutcome | None:
        """Finish or unwind a transfer a dead worker left in `room` (read from its checkpoint).

        A merged transfer is completed: the AI leaves the caller with the supervisor, and the
        call is watched again until one of them hangs up (`calls`); a supervisor who hung
        up meanwhile ends the call for the caller too. Either is outcome `merged`. Any other
        is unwound: the supervisor's legs hung up, the consult room deleted, the caller back
        with the AI, outcome `returned` / `worker_lost` (`flow_changed` when the checkpoint
        names another version of the flow than `flow`'s). A caller who hung up meanwhile left
        their supervisor legs alone: those are released, outcome `caller_hung_up` /
        `worker_lost`. None when there is nothing to do.
        """
        with self._single_flight(room):
            log = self._log.bind(transfer_id="", flow=flow.name)
            try:
                caller, _ = await self._caller(log, room, caller_identity)
            except TransferError as error:
                if caller_identity or error.reason != "config_error":
                    raise
                return await recover_without_caller(self.gateway, self.clock, log, room)
            recovered = await recover(
                self.gateway, self.media, self.clock, log, compiled(flow).version, room, caller
            )
        if recovered is None:
            return None
        outcome, supervisor = recovered
        if supervisor is not None:  # merged, with the supervisor still on the line: watched
            log = log.bind(transfer_id=holder(caller))
            checkpoint = {key: caller.attributes.get(key, "") for key in CHECKPOINT_KEYS}
            self._watch(log, room, caller.identity, supervisor, checkpoint, look=True)
        return outcome

    async def start(
        self,
        flow: Flow,
        *,
        room: str,
        caller_identity: str | None = None,
        summary: str = "",
        reason: str = "",
    ) -> Transfer:
        """Start a transfer for the caller in `room`; await `transfer.outcome` for the result.

        Raises:
            TransferInProgress: the caller already has a transfer running.
            TransferError: the room has no SIP caller, or the engine is misconfigured.
        """
        if not (flow.trunk or self.trunk):
            raise TransferError(
                "no outbound SIP trunk: set trunk in the flow, pass trunk=, or set "
                "LIVEKIT_SIP_OUTBOUND_TRUNK",
                reason="config_error",
            )
        transfer_id = new_transfer_id()
        version = compiled(flow).version
        log = self._log.bind(transfer_id=transfer_id, flow=flow.name)
        with self._single_flight(room):
            caller, everyone = await self._caller(log, room, caller_identity)
            dead = self._dead_claims.get(room, "")
            refuse_if_held(room, caller, everyone, dead)
            probed = self._known is not None or probe.known(self.gateway) is not None
            strategy = choose(flow, await self.capabilities(log), log)
            self._check_open()  # closed meanwhile: the job is ending under the caller's feet
            # A caller who has just reconnected lost the claim of a transfer another worker
            # runs, until that transfer writes it back (`presence.returned`): trusted only
            # once the repair has had time to land.
            wait = rejoined(caller, everyone, wall_time(self.clock))
            if wait > 0:
                log.info("transfer.rejoin_wait", seconds=round(wait, 3))
                await self.clock.sleep(wait)
                self._check_open()
            if not probed or wait > 0:  # read again after the probe (about 3 s on a
                # self-hosted server) or the wait: another engine may have claimed the
                # caller meanwhile
                everyone = await self.gateway.list_participants(log, room)
                again = next((p for p in everyone if p.identity == caller.identity), None)
                # Gone meanwhile: the transfer sees the hang-up and ends as such.
                refuse_if_held(room, again or caller, everyone, dead)
            consult = consult_room(transfer_id) if strategy == "move" else ""
            # The start's own registry: the claim is written before the transfer (and its
            # `InFlight`) exists, and a claim that succeeds was answered, nothing to hand on.
            writes = InFlight(self.clock)
            try:
                await claim(
                    self.gateway, log, room, caller.identity, transfer_id, consult, writes, version
                )
                self._check_open()
            except BaseException as error:
                # Something was written: a claim of ours left behind would refuse every
                # later start (taken back, unless another transfer's overwrote it), and
                # the start ends in one logged outcome like any transfer.
                await self._claim_failed(
                    log, room, caller.identity, transfer_id, error, writes, version
                )
                raise
            self._dead_claims.pop(room, None)  # overwritten by this live one
        transfer = Transfer(
            compiled=compiled(flow),
            gateway=self.gateway,
            media=self.media,
            clock=self.clock,
            trunk=self.trunk,
            room=room,
            caller_identity=caller.identity,
            caller_number=caller.attributes.get(PHONE_NUMBER, ""),
            summary=summary,
            reason=reason,
            log=log,
            transfer_id=transfer_id,
            on_done=self._forget,
            strategy=strategy,
            flow_version=version,
        )
        self.active[room] = transfer
        return transfer


def _refused(error: LiveKitError) -> TransferError:
    """Why LiveKit refused the calls made before the caller is held, and what to do."""
    if error.denied:
        return TransferError(
            f"LiveKit refused the API credentials ({error.code}): check LIVEKIT_API_KEY and "
            "LIVEKIT_API_SECRET belong to the server at LIVEKIT_URL",
            reason="permission",
        )
    return TransferError(
        f"LiveKit did not answer the calls made before the hold ({error.code}); try again",
        reason="unavailable",
        retryable=error.retryable,
    )
