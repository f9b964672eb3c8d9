"""Every LiveKit API call the engine makes, logged and classified.

Each call logs one `livekit.request` event (`rpc`, `duration_ms`, `ok`, and on failure
`error_code` and `sip_status_code`). Every client has region failover off, so the SDK never
replays a `CreateSIPParticipant` (LiveKit SIP does not deduplicate it); a dial's request
timeout is above its ring timeout, and dials have their own connections (`livekit.clients`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from livekit import api

from orchestrator.errors import LiveKitError
from orchestrator.livekit.clients import REQUEST_TIMEOUT_S, acquire, release
from orchestrator.livekit.messages import (
    Dial,
    Participant,
    dial_request,
    livekit_error,
    participant,
)
from orchestrator.livekit.names import CALL_STATUS
from orchestrator.logs import mask

__all__ = ["DIAL_MARGIN_S", "REQUEST_TIMEOUT_S", "Gateway", "classify_dial_error"]

DIAL_MARGIN_S = 10.0
"""A dial's request timeout is its ring timeout plus this: the answer of a call answered on
the last ring still arrives, and the client never gives up before the server does."""

T = TypeVar("T")

# Provider texts that mean "the caller ID you sent is not allowed" (Twilio, Telnyx).
_CALLER_ID_MARKERS = ("32204", "21210", "21212", "D35", "D51", "unverified", "origination")
# What a person (or their phone) answers: never read as the carrier refusing a number.
_PERSON = frozenset({486, 600, 603, 607, 608})


def classify_dial_error(
    error: Exception, *, preserving: bool, rejected_by: Collection[int] = (403,)
) -> tuple[str, int | None]:
    """A failed dial's flow outcome and SIP status.

    While the caller's own number was shown, a status in `rejected_by` (the flow's
    `caller_id.rejected_by`, default 403) or a provider's caller-ID text in the reason is
    `caller_id_rejected`; otherwise statuses mean what a phone means by them (603: declined).
    """
    if isinstance(error, LiveKitError) and error.sip_status is not None:
        status, text = error.sip_status, error.sip_reason
        refused = status in rejected_by or (
            status not in _PERSON and any(m in text for m in _CALLER_ID_MARKERS)
        )
        if preserving and refused:
            return "caller_id_rejected", status
        if status in (486, 600):
            return "busy", status
        if status in (603, 607, 608):
            return "declined", status
        if status in (408, 487):
            return "no_answer", status
        if status in (404, 484, 604):  # the number does not exist: the flow's data is wrong
            return "failed", status
        return "unavailable", status
    if isinstance(error, LiveKitError):
        if error.code in ("canceled", "deadline_exceeded"):
            return "no_answer", None
        if error.code in ("unavailable", "internal", "unknown", "resource_exhausted"):
            return "unavailable", None
        return "failed", None
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return "no_answer", None
    return "failed", None


class Gateway:
    """Logged LiveKit API calls for one engine (shared by its transfers)."""

    def __init__(self, url: str, api_key: str, api_secret: str) -> None:
        # With a digest of the secret: a server on a reused port (a simulation's sandbox
        # after another's, in one event loop) is another server, not the one probed before.
        secret = hashlib.sha256(api_secret.encode()).hexdigest()[:16]
        self.key = (url, api_key, secret)
        """The server and credentials: what the capabilities of `livekit.probe` and the
        engines' single flight hold for."""
        self._clients = acquire(url, api_key, api_secret)
        self.client = self._clients.calls
        self.dialer = self._clients.dials
        self._closed = False
        self.inflight = 0
        """Calls sent and not yet answered (a simulation moves time only when every one of
        them waits on simulated time at the server)."""

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await release(self._clients)

    async def call(self, log: Any, rpc: str, make: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        self.inflight += 1
        failure: dict[str, Any] | None = None
        try:
            return await make()
        except api.TwirpError as error:
            translated = livekit_error(error)
            failure = {"error_code": error.code, "sip_status_code": translated.sip_status}
            raise translated from error
        except BaseException as error:  # timeouts, cancellation: logged, then passed on
            failure = {"error_code": type(error).__name__, "sip_status_code": None}
            raise
        finally:
            self.inflight -= 1
            log.info(
                "livekit.request",
                rpc=rpc,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                ok=failure is None,
                **(failure or {}),
            )

    # -- the calls ----------------------------------------------------------------------

    async def create_room(self, log: Any, name: str, empty_timeout: int) -> None:
        request = api.CreateRoomRequest(
            name=name, empty_timeout=empty_timeout, departure_timeout=min(empty_timeout, 20)
        )
        await self.call(
            log, "RoomService.CreateRoom", lambda: self.client.room.create_room(request)
        )

    async def delete_room(self, log: Any, name: str) -> bool:
        """False when LiveKit answered that the room does not exist."""
        request = api.DeleteRoomRequest(room=name)
        try:
            await self.call(
                log, "RoomService.DeleteRoom", lambda: self.client.room.delete_room(request)
            )
        except LiveKitError as error:
            if error.code != "not_found":
                raise
            return False
        return True

    async def set_attributes(
        self, log: Any, room: str, identity: str, values: dict[str, str]
    ) -> None:
        request = api.UpdateParticipantRequest(room=room, identity=identity, attributes=values)
        await self.call(
            log,
            "RoomService.UpdateParticipant",
            lambda: self.client.room.update_participant(request),
        )

    async def get_participant(self, log: Any, room: str, identity: str) -> Participant | None:
        request = api.RoomParticipantIdentity(room=room, identity=identity)
        try:
            info = await self.call(
                log,
                "RoomService.GetParticipant",
                lambda: self.client.room.get_participant(request),
            )
            return participant(info)
        except LiveKitError as error:
            if error.code == "not_found":
                return None
            raise

    async def list_participants(self, log: Any, room: str) -> list[Participant]:
        request = api.ListParticipantsRequest(room=room)
        answer = await self.call(
            log,
            "RoomService.ListParticipants",
            lambda: self.client.room.list_participants(request),
        )
        return [participant(info) for info in answer.participants]

    async def remove_participant(self, log: Any, room: str, identity: str) -> bool:
        """False when LiveKit answered that nobody by that identity is in the room."""
        request = api.RoomParticipantIdentity(room=room, identity=identity)
        try:
            await self.call(
                log,
                "RoomService.RemoveParticipant",
                lambda: self.client.room.remove_participant(request),
            )
        except LiveKitError as error:
            if error.code != "not_found":
                raise
            return False
        return True

    async def dial(self, log: Any, dial: Dial) -> None:
        """Returns once the supervisor answers; raises `LiveKitError` (with the SIP status
        when the phone refused) or `TimeoutError` (the request's own deadline)."""
        to = dial.target.number or ""  # a dial target always has one (the flow checks it)
        log.info(
            "dial.request",
            to=mask(to),
            caller_id=mask(dial.caller_id),
            target=dial.target_name,
            attempt=dial.attempt,
            caller_id_kind=dial.caller_id_kind,
            ring=dial.ring,
            **({"group": dial.group} if dial.group else {}),
        )
        request = dial_request(dial)
        timeout = dial.ring + DIAL_MARGIN_S
        await self.call(
            log,
            "SIP.CreateSIPParticipant",
            lambda: self.dialer.sip.create_sip_participant(request, timeout=timeout),
        )

    async def move(self, log: Any, room: str, identity: str, destination: str) -> None:
        request = api.MoveParticipantRequest(
            room=room, identity=identity, destination_room=destination
        )
        await self.call(
            log, "RoomService.MoveParticipant", lambda: self.client.room.move_participant(request)
        )

    async def set_can_subscribe(
        self,
        log: Any,
        room: str,
        identity: str,
        allowed: bool,
        *,
        ringing: bool = False,
        proceed: Callable[[], bool] | None = None,
    ) -> bool | None:
        """The participant's own permission with `can_subscribe` set to `allowed`
        (UpdateParticipant replaces the whole permission, so it is read first). True once
        changed; False when nothing was to change (already so, or with `ringing` its call is
        no longer dialling or ringing) or `proceed()`, asked just before the change is sent,
        says no; None when LiveKit answered that nobody by that identity is in the room."""
        asked = api.RoomParticipantIdentity(room=room, identity=identity)
        try:
            info = await self.call(
                log, "RoomService.GetParticipant", lambda: self.client.room.get_participant(asked)
            )
        except LiveKitError as error:
            if error.code == "not_found":
                return None
            raise
        if info.permission.can_subscribe == allowed:
            return False
        if ringing and info.attributes.get(CALL_STATUS) not in ("dialing", "ringing"):
            return False
        if proceed is not None and not proceed():
            return False
        permission = api.ParticipantPermission()
        permission.CopyFrom(info.permission)
        permission.can_subscribe = allowed
        request = api.UpdateParticipantRequest(room=room, identity=identity, permission=permission)
        await self.call(
            log,
            "RoomService.UpdateParticipant",
            lambda: self.client.room.update_participant(request),
        )
        return True

    async def update_subscriptions(
        self, log: Any, room: str, identity: str, track_sids: list[str], subscribe: bool
    ) -> None:
        request = api.UpdateSubscriptionsRequest(
            room=room, identity=identity, track_sids=track_sids, subscribe=subscribe
        )
        await self.call(
            log,
            "RoomService.UpdateSubscriptions",
            lambda: self.client.room.update_subscriptions(request),
        )

    async def transfer(
        self, log: Any, room: str, identity: str, transfer_to: str, ring: float, dialtone: bool
    ) -> bool | None:
        """True: the far end took the call; None: the REFER was accepted, outcome unknown
        (the open-source server answers nothing more); False: it failed."""
        request = api.TransferSIPParticipantRequest(
            room_name=room,
            participant_identity=identity,
            transfer_to=transfer_to,
            play_dialtone=dialtone,
        )
        request.ringing_timeout.FromSeconds(int(ring))
        answer = await self.call(
            log,
            "SIP.TransferSIPParticipant",
            lambda: self.dialer.sip.transfer_sip_participant(request, timeout=ring + 10),
        )
        if answer.status == api.SIPTransferStatus.STS_TRANSFER_FAILED:
            return False
        return True if answer.status == api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL else None
