"""SIP call legs and the scripted phones at their far end.

An outbound leg follows LiveKit's SIP bridge: the participant joins the room first with
`sip.callStatus = dialing`, then `ringing`, publishes its audio track just after that (a
`track_published` event: later than the join, as on the real server), then (after DTMF,
`automation`) `active` once the scripted phone answers, when it subscribes to every track in
the room (the bridge joins with auto-subscribe off and subscribes once connected). A failed
call just leaves the room with the disconnect reason the bridge uses. After answering, the
phone reacts to the brief as the scenario says: DTMF `1` (accept), DTMF `2` (decline), a
hang-up, or silence. The inbound caller is a leg too.

Each leg keeps a `PhoneLog`: the SIP requests its phone received, as the real bridge sends
them (a CANCEL when LiveKit gives up on a ringing phone, a BYE when it hangs up an answered
one; no ACK after the 487 that answers a CANCEL).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from livekit.protocol import models

from orchestrator.sandbox.scenario import PhoneSpec, Scenario
from orchestrator.sandbox.state import Event, World, new_id
from orchestrator.sandbox.twirp import PSRPC_PREFIX, TwirpError, sip_error

__all__ = ["Leg", "Legs", "PhoneLog"]

DEFAULT_RINGING_TIMEOUT = 180.0  # the open-source SIP bridge's default
_RINGING_AFTER = 0.1
_PUBLISHED_AFTER = 0.15
_REJECT_AFTER = 0.5
_VOICEMAIL_AFTER = 2.0
_FAILURES = {"busy": 486, "decline": 603, "unavailable": 480, "request_timeout": 408}
_UNAVAILABLE = {404, 408, 480}
REJECTED = models.DisconnectReason.USER_REJECTED
UNAVAILABLE = models.DisconnectReason.USER_UNAVAILABLE
HUNG_UP = models.DisconnectReason.CLIENT_INITIATED


@dataclass
class PhoneLog:
    """What the phone at the far end of one SIP leg received: its SIP requests, in order.

    An outbound leg's phone gets `INVITE` (showing `from_number`), `ACK` after its final
    answer, `CANCEL` when LiveKit gives up while it rings, `BYE` when LiveKit hangs up; the
    inbound caller's phone gets `REFER` (a cold transfer) and `BYE`.
    """

    direction: Literal["outbound", "inbound"]
    room: str
    identity: str
    number: str
    from_number: str
    received: list[str] = field(default_factory=list)
    answered: bool = False
    over: bool = False
    ended_at: float | None = None
    """When the call ended (the sandbox clock's time), whoever ended it."""

    def end(self, at: float, *requests: str) -> None:
        """The call is over; the phone received `requests` last (once, whoever ends it)."""
        if not self.over:
            self.received.extend(requests)
            self.over = True
            self.ended_at = at


@dataclass
class Leg:
    room: str
    identity: str
    call_id: str
    log: PhoneLog
    status: str = "dialing"
    transfer_to: str = ""
    transfer: asyncio.Future[bool] | None = None
    voicemail: bool = False
    sid: str = ""
    joined_with: dict[str, str] = field(default_factory=dict)
    """The attributes its participant joined with (a reconnect joins with them again)."""
    answered: asyncio.Future[None] = field(default_factory=lambda: _future())
    ended: asyncio.Future[None] = field(default_factory=lambda: _future())
    conversing: bool = False
    """A conversational brief talks with its phone (`Legs.conversing`)."""
    reacted: bool = False


class Legs:
    """Every SIP leg of the sandbox, keyed by (room, participant identity)."""

    def __init__(self, world: World, scenario: Scenario) -> None:
        self.world = world
        self.scenario = scenario
        self.legs: dict[tuple[str, str], Leg] = {}
        self.logs: list[PhoneLog] = []
        self.pending_hangups: dict[str, tuple[Leg, float]] = {}
        world.subscribers.append(self._on_event)

    def _on_event(self, event: Event) -> None:
        """A leg whose participant left the room (removed, room deleted...) is over."""
        if event.kind != "participant_left" or event.participant is None:
            return
        key = (event.room, event.participant.identity)
        leg = self.legs.get(key)
        if leg is not None and leg.sid == event.participant.sid:  # not a newer same-named leg
            del self.legs[key]
            self._hung_up_by_livekit(leg)
            self._settle(leg, TwirpError("canceled", PSRPC_PREFIX + "sip request timed out"))

    def _hung_up_by_livekit(self, leg: Leg) -> None:
        leg.log.end(self.world.clock.now(), "BYE" if leg.log.answered else "CANCEL")

    def get(self, room: str, identity: str) -> Leg | None:
        return self.legs.get((room, identity))

    def moved(self, room: str, destination: str, identity: str) -> None:
        leg = self.legs.pop((room, identity), None)
        if leg is not None:
            leg.room = leg.log.room = destination
            self.legs[(destination, identity)] = leg

    def _status(self, leg: Leg, status: str) -> None:
        leg.status = status
        if self.world.member(leg.room, leg.identity):
            self.world.set_attributes(leg.room, leg.identity, {"sip.callStatus": status})

    def _publish_audio(self, leg: Leg) -> None:
        member = self.world.member(leg.room, leg.identity)
        if member is not None and not member.info.tracks:
            track = models.TrackInfo(sid=new_id("TR_"), type=models.TrackType.AUDIO, name="phone")
            track.source = models.TrackSource.MICROPHONE
            member.info.tracks.append(track)
            self.world.emit("track_published", leg.room, participant=member.info)

    def close(self) -> None:
        """The sandbox stops: every call ends, and whoever waits on one gets an answer."""
        for leg in list(self.legs.values()):
            self._settle(leg, TwirpError("canceled", PSRPC_PREFIX + "sip request timed out"))
            if leg.transfer is not None and not leg.transfer.done():
                leg.transfer.cancel()
        self.legs.clear()

    def _forget(self, leg: Leg) -> None:
        if self.legs.get((leg.room, leg.identity)) is leg:  # not a newer leg of that name
            del self.legs[(leg.room, leg.identity)]

    @staticmethod
    def _settle(leg: Leg, error: TwirpError) -> None:
        if not leg.answered.done():
            leg.answered.set_exception(error)
            leg.answered.exception()  # retrieved here so an unawaited leg never warns
        if not leg.ended.done():
            leg.ended.set_result(None)

    def _end(
        self, leg: Leg, reason: int, error: TwirpError | None = None, *, received: str = ""
    ) -> None:
        """The call is over: resolve waiters, then leave the room if still there.

        `received`: what the phone got last (`ACK` to its refusal, `CANCEL`, `BYE`); nothing
        when the phone itself hung up."""
        leg.log.end(self.world.clock.now(), *([received] if received else []))
        self._settle(leg, error or TwirpError("canceled", PSRPC_PREFIX + "sip request timed out"))
        self._forget(leg)
        if self.world.member(leg.room, leg.identity):
            if reason == HUNG_UP:
                self._status(leg, "hangup")
            self.world.leave(leg.room, leg.identity, reason)

    # -- outbound -----------------------------------------------------------------------

    def dial(
        self,
        room: str,
        info: models.ParticipantInfo,
        number: str,
        ring: float,
        dtmf: str,
        *,
        caller_id: str,
        reject: int | None = None,
    ) -> Leg:
        """Join the room as `dialing` and run the call; `reject` is a SIP status to fail with."""
        log = PhoneLog("outbound", room, info.identity, number, caller_id, ["INVITE"])
        leg = Leg(room, info.identity, info.attributes["sip.callID"], log)
        leg.joined_with = dict(info.attributes)
        member = self.world.join(room, info)  # may replace a same-named participant first
        member.unsubscribed.add("*")  # the bridge subscribes once the call is connected
        leg.sid = member.info.sid
        self.legs[(room, info.identity)] = leg
        self.logs.append(leg.log)
        phone = self.scenario.phone(number)
        member.task = self.world.spawn(self._run(leg, phone, ring, dtmf, reject))
        return leg

    async def _run(
        self, leg: Leg, phone: PhoneSpec, ring: float, dtmf: str, reject: int | None
    ) -> None:
        try:
            if reject is not None:
                await self.world.clock.sleep(0.2)
                self._end(leg, REJECTED, sip_error(reject), received="ACK")
                return
            await self._ring(leg, phone, ring, dtmf)
        except asyncio.CancelledError:  # removed, room deleted, caller gone: the call ends
            self._hung_up_by_livekit(leg)
            self._settle(leg, TwirpError("canceled", PSRPC_PREFIX + "sip request timed out"))
            self._forget(leg)
            raise

    async def _ring(self, leg: Leg, phone: PhoneSpec, ring: float, dtmf: str) -> None:
        # Times count from the dial: 180 Ringing after 0.1 s, a final answer at its time.
        clock = self.world.clock
        await clock.sleep(_RINGING_AFTER)
        self._status(leg, "ringing")
        await clock.sleep(_PUBLISHED_AFTER - _RINGING_AFTER)
        self._publish_audio(leg)
        answer = phone.answer
        if isinstance(answer, str) and answer in _FAILURES:
            await clock.sleep(_REJECT_AFTER - _PUBLISHED_AFTER)
            status = _FAILURES[answer]
            reason = UNAVAILABLE if status in _UNAVAILABLE else REJECTED
            self._end(leg, reason, sip_error(status), received="ACK")
            return
        delay = _VOICEMAIL_AFTER if answer == "voicemail" else answer
        if answer == "no_answer" or (isinstance(delay, float) and delay > ring):
            await clock.sleep(max(ring - _PUBLISHED_AFTER, 0.0))
            timeout = TwirpError("canceled", PSRPC_PREFIX + "sip request timed out")
            self._end(leg, UNAVAILABLE, timeout, received="CANCEL")
            return
        assert isinstance(delay, float)
        await clock.sleep(max(delay - _PUBLISHED_AFTER, 0.0))
        leg.log.received.append("ACK")  # the 200 OK's
        leg.log.answered = True
        if dtmf:
            self._status(leg, "automation")
            await clock.sleep(0.1 * len(dtmf) + 0.4 * dtmf.lower().count("w"))
        answered = self.world.member(leg.room, leg.identity)
        if answered is not None:  # connected: the bridge subscribes to every track there is
            answered.unsubscribed.clear()
            self.world.emit("subscriptions_changed", leg.room, participant=answered.info)
            tags = {"sip.callTag": new_id("SCT_"), "sip.callIDFull": new_id("")}
            self.world.set_attributes(leg.room, leg.identity, tags)
        self._status(leg, "active")
        leg.voicemail = answer == "voicemail"
        if leg.voicemail:
            # What an answering-machine detector would hear, as an event (there is no audio).
            member = self.world.member(leg.room, leg.identity)
            self.world.emit("voicemail_greeting", leg.room, participant=member and member.info)
        if leg.answered.done():
            return
        leg.answered.set_result(None)
        if leg.voicemail:
            return  # a voicemail greeting never reacts to a brief
        await clock.sleep(phone.decide_after)
        if leg.conversing and phone.asks:
            return  # its questions first: it reacts once they are (`questions_answered`)
        await self._react_and_stay(leg, phone)

    def conversing(self, identity: str) -> None:
        """A conversational brief has begun with this leg's phone: a phone that asks
        questions (`on_brief: {ask: [...]}`) reacts only once they are answered."""
        leg = self._leg(identity)
        if leg is not None:
            leg.conversing = True

    def questions_answered(self, identity: str) -> None:
        """The conversation answered the last question of this leg's phone: now it presses
        its key or hangs up (`then:`), and `hangup_after` counts from here."""
        leg = self._leg(identity)
        if leg is not None:
            phone = self.scenario.phone(leg.log.number)
            self.world.spawn(self._react_and_stay(leg, phone))

    def _leg(self, identity: str) -> Leg | None:
        """The newest live leg of that identity, in whichever room it is now."""
        found = [leg for leg in self.legs.values() if leg.identity == identity]
        return found[-1] if found else None

    async def _react_and_stay(self, leg: Leg, phone: PhoneSpec) -> None:
        if leg.reacted:  # once: a conversation begun after the phone reacted finds it done
            return
        leg.reacted = True
        self._react(leg, phone)
        if phone.reaction == "accept" and phone.hangup_after is not None:
            await self.world.clock.sleep(phone.hangup_after)
            if self.legs.get((leg.room, leg.identity)) is leg:  # still on the call
                self._end(leg, HUNG_UP)

    def _react(self, leg: Leg, phone: PhoneSpec) -> None:
        member = self.world.member(leg.room, leg.identity)
        if member is None:
            return
        if phone.reaction in ("accept", "decline") and phone.keypad:  # else said (`converse`)
            digit = "1" if phone.reaction == "accept" else "2"
            self.world.emit("sip_dtmf_received", leg.room, participant=member.info, digit=digit)
        elif phone.reaction == "hangup":
            self._end(leg, HUNG_UP)

    # -- inbound caller -----------------------------------------------------------------

    def place_caller(self, room: str, number: str, hangup_after: float | None) -> Leg:
        trunk = self.scenario.trunk
        info = models.ParticipantInfo(
            identity=f"sip_{number}",
            name=f"Phone {number}",
            kind=models.ParticipantInfo.Kind.SIP,
        )
        info.attributes.update(
            {
                "sip.callID": new_id("SCL_"),
                "sip.callIDFull": new_id(""),
                "sip.callTag": new_id("SCT_"),
                "sip.trunkID": "ST_inbound",
                "sip.ruleID": "SDR_inbound",
                "sip.hostname": "caller.sandbox.invalid",
                "sip.phoneNumber": number,
                "sip.trunkPhoneNumber": trunk.numbers[0] if trunk.numbers else "",
                "sip.callStatus": "active",
            }
        )
        log = PhoneLog("inbound", room, info.identity, number, number, answered=True)
        leg = Leg(room, info.identity, info.attributes["sip.callID"], log)
        leg.status = "active"
        leg.joined_with = dict(info.attributes)
        leg.answered.set_result(None)
        member = self.world.join(room, info)
        leg.sid = member.info.sid
        self.legs[(room, info.identity)] = leg
        self.logs.append(leg.log)
        self._publish_audio(leg)
        if hangup_after is not None:
            self.pending_hangups[room] = (leg, hangup_after)
        return leg

    def room_used(self, room: str) -> None:
        """An API request named `room`: the transfer has started, the caller's timer runs."""
        pending = self.pending_hangups.pop(room, None)
        if pending is not None:
            leg, after = pending
            member = self.world.member(leg.room, leg.identity)
            if member is not None and member.info.sid == leg.sid:
                member.task = self.world.spawn(self._hang_up_later(leg, after))

    async def _hang_up_later(self, leg: Leg, after: float) -> None:
        await self.world.clock.sleep(after)
        self._end(leg, HUNG_UP)

    def reconnect(self, room: str, identity: str) -> None:
        """The leg's participant is closed by the server and joins again (see
        `Sandbox.reconnect`); the phone call goes on."""
        leg, member = self.get(room, identity), self.world.member(room, identity)
        if leg is None or member is None:
            return
        info = models.ParticipantInfo()
        info.CopyFrom(member.info)
        info.sid = ""
        del info.tracks[:]
        info.ClearField("permission")  # its token's grants again, not what the API changed
        info.attributes.clear()  # what the API wrote is gone; the bridge's own sip.* stay
        info.attributes.update(leg.joined_with)
        info.attributes.update(
            {k: v for k, v in member.info.attributes.items() if k.startswith("sip.")}
        )
        task, member.task = member.task, None  # the call's own life goes on
        leg.sid = ""  # so the leave below is not taken for the end of the call
        self.world.leave(room, identity, models.DisconnectReason.STATE_MISMATCH)
        fresh = self.world.join(room, info)
        fresh.task, leg.sid = task, fresh.info.sid
        if not leg.log.answered:  # the bridge subscribes once the call is connected
            fresh.unsubscribed.add("*")
        self._publish_audio(leg)

    def hang_up(self, room: str, identity: str) -> None:
        """The far end hangs up (a test or simulation can make any leg do this)."""
        leg = self.get(room, identity)
        if leg is not None:
            self._end(leg, HUNG_UP)

    # -- transfer (REFER) ---------------------------------------------------------------

    async def refer(self, leg: Leg, phone: PhoneSpec, ring: float) -> bool:
        """Run a REFER; True when the new leg answered, False when the call ended first."""
        leg.log.received.append("REFER")
        answer = phone.answer
        if isinstance(answer, str) and answer in _FAILURES:
            if not await self._while_live(leg, _REJECT_AFTER):
                return False
            raise sip_error(_FAILURES[answer], transfer=True)
        delay = _VOICEMAIL_AFTER if answer == "voicemail" else answer
        if answer == "no_answer" or (isinstance(delay, float) and delay > ring):
            if not await self._while_live(leg, ring):
                return False
            raise TwirpError("canceled", "refer canceled")
        assert isinstance(delay, float)
        if not await self._while_live(leg, delay):
            return False  # the call ended after the REFER was accepted: not an error
        self.world.spawn(self._leave_after_transfer(leg))
        return True

    async def _while_live(self, leg: Leg, seconds: float) -> bool:
        """Wait simulated seconds; False as soon as the call ends instead."""
        waiting = asyncio.ensure_future(self.world.clock.sleep(seconds))
        await asyncio.wait({waiting, leg.ended}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        return not leg.ended.done() and (leg.room, leg.identity) in self.legs

    async def _leave_after_transfer(self, leg: Leg) -> None:
        await self.world.clock.sleep(1.0)  # the bridge sends BYE within a second
        if (leg.room, leg.identity) in self.legs:
            self._end(leg, HUNG_UP, received="BYE")


def _future() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()
