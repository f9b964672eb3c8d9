"""`TransferEngine`: starts transfers for callers, one at a time per caller."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

import structlog
from livekit import api
from livekit.protocol import models
from statemachine import StateChart

from orchestrator.clock import Clock, RealClock
from orchestrator.engine.outcome import TransferOutcome
from orchestrator.engine.ports import Media
from orchestrator.engine.recovery import recover
from orchestrator.engine.transfer import Transfer, new_transfer_id
from orchestrator.errors import TransferError, TransferInProgress
from orchestrator.flow import compile_flow
from orchestrator.flow.model import Flow
from orchestrator.livekit import Gateway

__all__ = ["TransferEngine"]

# Keyed by id() with the flow kept alive beside its class, so an id is never reused wrongly.
_COMPILED: dict[int, tuple[Flow, type[StateChart[Any]]]] = {}
_COMPILED_MAX = 64


class TransferEngine:
    """Runs flows against one LiveKit deployment.

    Args:
        url, api_key, api_secret: the LiveKit server (default: `LIVEKIT_URL`,
            `LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET`).
        media: hold audio, speech and answer screening, from the agent worker.
        trunk: outbound SIP trunk id, unless the flow names one (default:
            `LIVEKIT_SIP_OUTBOUND_TRUNK`).
        clock: simulated time for simulations and tests; real time by default.
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
        self._starting: set[str] = set()
        self._log = structlog.get_logger("orchestrator.transfer")
        self._move_probe: asyncio.Future[bool] | None = None

    def _forget(self, transfer: Transfer) -> None:
        self.active.pop(transfer.room, None)

    async def aclose(self) -> None:
        for transfer in list(self.active.values()):
            transfer.cancel()
            await transfer.outcome
        await self.gateway.close()

    @staticmethod
    def _machine(flow: Flow) -> type[StateChart[Any]]:
        """The flow's compiled class, built once per flow object for the whole process."""
        cached = _COMPILED.get(id(flow))
        if cached is None or cached[0] is not flow:
            cached = (flow, compile_flow(flow))
            _COMPILED[id(flow)] = cached
            while len(_COMPILED) > _COMPILED_MAX:  # flows loaded again and again: oldest out
                del _COMPILED[next(iter(_COMPILED))]
        return cached[1]

    async def _caller(self, log: Any, room: str, identity: str | None) -> models.ParticipantInfo:
        participants = await self.gateway.list_participants(log, room)
        for info in participants:
            is_sip = info.kind == models.ParticipantInfo.Kind.SIP
            if (identity and info.identity == identity) or (not identity and is_sip):
                return info
        raise TransferError(
            f"no SIP caller in room {room!r}: the transfer needs the caller's phone leg in the "
            "room (pass caller_identity if there are several)",
            reason="config_error",
        )

    async def move_available(self, room: str, log: Any = None) -> bool:
        """Whether the server has MoveParticipant (LiveKit Cloud does, self-hosted does not).

        Asked once per engine, with a probe that moves nobody; `room` is only where the
        probe's grant points.
        """
        if self._move_probe is None:  # one probe, however many transfers start at once
            log = log or self._log.bind(transfer_id="", flow="")
            self._move_probe = asyncio.ensure_future(self.gateway.move_available(log, room))
        probe = self._move_probe
        try:
            return await asyncio.shield(probe)
        except Exception:
            if self._move_probe is probe:
                self._move_probe = None  # a failed probe is asked again by the next transfer
            raise

    async def _strategy(self, log: Any, flow: Flow, room: str) -> Literal["move", "in_room"]:
        """The merge strategy, settled before the caller is held: never found out at merge."""
        if flow.merge_strategy == "in_room" or not any(
            step.type == "merge" for step in flow.steps.values()
        ):
            return "in_room" if flow.merge_strategy == "in_room" else "move"
        if await self.move_available(room, log):
            return "move"
        if flow.merge_strategy == "move":
            raise TransferError(
                "this LiveKit server has no MoveParticipant (self-hosted LiveKit): set "
                "merge_strategy: in_room (or auto) in the flow, or use LiveKit Cloud",
                reason="move_unavailable",
            )
        log.info("transfer.merge_strategy", strategy="in_room", why="no MoveParticipant")
        return "in_room"

    async def recover(
        self, flow: Flow, *, room: str, caller_identity: str | None = None
    ) -> TransferOutcome | None:
        """Finish or unwind a transfer a dead worker left in `room` (read from its checkpoint).

        A merged transfer is completed (the AI leaves the caller with the supervisor); any
        other is unwound: the supervisor's legs hung up, the consult room deleted, the caller
        back with the AI, outcome `returned` / `worker_lost`. None when there is nothing to do.
        """
        if room in self.active or room in self._starting:
            raise TransferInProgress(room)
        self._starting.add(room)
        try:
            log = self._log.bind(transfer_id="", flow=flow.name)
            caller = await self._caller(log, room, caller_identity)
            return await recover(self.gateway, self.media, log, flow, room, caller)
        except api.TwirpError as error:
            raise _refused(error) from None
        finally:
            self._starting.discard(room)

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
        if room in self.active or room in self._starting:
            raise TransferInProgress(room)
        if not (flow.trunk or self.trunk):
            raise TransferError(
                "no outbound SIP trunk: set trunk in the flow, pass trunk=, or set "
                "LIVEKIT_SIP_OUTBOUND_TRUNK",
                reason="config_error",
            )
        self._starting.add(room)  # single flight, from this moment on
        transfer_id = new_transfer_id()
        log = self._log.bind(transfer_id=transfer_id, flow=flow.name)
        try:
            caller = await self._caller(log, room, caller_identity)
            strategy = await self._strategy(log, flow, room)
        except api.TwirpError as error:
            self._starting.discard(room)
            raise _refused(error) from None
        except BaseException:
            self._starting.discard(room)
            raise
        transfer = Transfer(
            flow=flow,
            machine=self._machine(flow),
            gateway=self.gateway,
            media=self.media,
            clock=self.clock,
            trunk=self.trunk,
            room=room,
            caller_identity=caller.identity,
            caller_number=caller.attributes.get("sip.phoneNumber", ""),
            summary=summary,
            reason=reason,
            log=log,
            transfer_id=transfer_id,
            on_done=self._forget,
            strategy=strategy,
        )
        self._starting.discard(room)
        self.active[room] = transfer
        return transfer


def _refused(error: api.TwirpError) -> TransferError:
    """Why LiveKit refused the calls made before the caller is held, and what to do."""
    if error.code in ("unauthenticated", "permission_denied") or error.status == 401:
        return TransferError(
            f"LiveKit refused the API credentials ({error.code}): check LIVEKIT_API_KEY and "
            "LIVEKIT_API_SECRET belong to the server at LIVEKIT_URL",
            reason="permission",
        )
    return TransferError(
        f"LiveKit did not answer the calls made before the hold ({error.code}); try again",
        reason="unavailable",
        retryable=error.status >= 500 or error.code == "unavailable",
    )
