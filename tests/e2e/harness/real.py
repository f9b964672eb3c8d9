"""The real stack as a target: livekit-server and livekit-sip with sipp phones.

The caller calls in through an inbound trunk and a direct dispatch rule into the test's room,
where a stand-in agent (`StandInAgent`: a real `rtc.Room` connection of kind agent) already
publishes audio; the supervisors' phones are a `Carrier` behind the outbound trunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from livekit import api, rtc

from orchestrator.agents.events import EventFeed
from orchestrator.engine import TransferEngine
from orchestrator.sandbox.scenario import PhoneSpec
from orchestrator.testing import RecordingMedia
from tests.e2e.harness.phones import CARRIER_PORT, Caller, Carrier
from tests.e2e.harness.targets import BUSINESS, CALLER, SUPERVISOR, PhoneCall, Target

__all__ = ["RealTarget", "StandInAgent", "outbound_trunk"]

_INBOUND = itertools.count(1)


class StandInAgent:
    """What a worker's job would be in the caller's room, minus the AI: a participant of kind
    agent publishing a silent audio track (LiveKit's SIP bridge answers an inbound call only
    once it subscribed to some audio), reporting the room's events."""

    def __init__(self, url: str, key: str, secret: str, room: str) -> None:
        self.url = url
        grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
        self.token = (
            api.AccessToken(key, secret)
            .with_identity("agent")
            .with_name("AI agent")
            .with_kind("agent")
            .with_grants(grants)
            .to_jwt()
        )
        self.room = rtc.Room()
        self._feeding: asyncio.Task[None] | None = None
        self._voice: rtc.LocalAudioTrack | None = None

    async def join(self, report: Callable[[str, str, str], None]) -> None:
        room = self.room
        room.on(
            "participant_connected",
            lambda p: report("joined", p.identity, json.dumps(dict(p.attributes))),
        )
        room.on("participant_disconnected", lambda p: report("left", p.identity, ""))
        room.on("track_published", lambda pub, p: report("published", p.identity, pub.sid))
        room.on(
            "sip_dtmf_received",
            lambda d: report("dtmf", d.participant.identity if d.participant else "", d.digit),
        )
        room.on(
            "participant_attributes_changed",
            lambda changed, p: report("attributes", p.identity, json.dumps(dict(changed))),
        )
        await room.connect(self.url, self.token)
        source = rtc.AudioSource(48000, 1)
        track = rtc.LocalAudioTrack.create_audio_track("agent-voice", source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await room.local_participant.publish_track(track, options)
        self._voice = track
        self._feeding = asyncio.ensure_future(self._silence(source))

    @staticmethod
    async def _silence(source: rtc.AudioSource) -> None:
        frame = rtc.AudioFrame.create(48000, 1, 480)
        while True:
            await source.capture_frame(frame)

    async def quiet(self) -> None:
        """What a worker's job does after the merge: it stops publishing and stays, following
        the call (its events still reach the engine)."""
        if self._feeding is not None:
            self._feeding.cancel()
            self._feeding = None
        if self._voice is not None and self.room.isconnected():
            await self.room.local_participant.unpublish_track(self._voice.sid)
        self._voice = None

    async def leave(self) -> None:
        await self.quiet()
        if self.room.isconnected():
            await self.room.disconnect()


class RealTarget(Target):
    name: Literal["sandbox", "real"] = "real"

    def __init__(self, env: dict[str, str], folder: Path, trunk: str, debug_port: int) -> None:
        self.url = env["LIVEKIT_URL"]
        self.api_key, self.api_secret = env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]
        self.bridge = env["LIVEKIT_SIP_ADDRESS"]
        self.folder, self.trunk, self.debug_port = folder, trunk, debug_port
        self.lk = api.LiveKitAPI(self.url, self.api_key, self.api_secret)
        self.events = []
        self.carrier: Carrier | None = None
        self.caller: Caller | None = None
        self.agents: dict[str, StandInAgent] = {}
        self._inbound: list[tuple[str, str]] = []  # (trunk id, dispatch rule id)
        self._feeds: list[EventFeed] = []
        self.preexisting: set[str] = set()

    async def begin(self) -> None:
        """Note the rooms there already (a `make stack-up` stack may have the user's)."""
        self.preexisting = set(await self.rooms())

    async def phones(self, phones: dict[str, PhoneSpec], *, owned_only: bool = False) -> None:
        if self.carrier is not None:
            await self.carrier.aclose()
        self.carrier = Carrier(
            self.folder, phones, allowed_from=[BUSINESS] if owned_only else None
        )
        await self.carrier.start()

    async def call_in(
        self,
        room: str,
        number: str = CALLER,
        *,
        hangup_after: float | None = None,
        agent: str = "",
    ) -> str:
        """The caller calls a number of a new inbound trunk whose dispatch rule sends the call
        to `room`. With `agent`, LiveKit dispatches that agent (a worker) to the room; without,
        a stand-in agent is there first."""
        called = f"+1800555{next(_INBOUND):04d}"  # the number the caller dials, per call
        trunk = await self.lk.sip.create_inbound_trunk(
            api.CreateSIPInboundTrunkRequest(
                trunk=api.SIPInboundTrunkInfo(
                    name="e2e", numbers=[called], allowed_addresses=["127.0.0.1/32"]
                )
            )
        )
        rule = api.SIPDispatchRuleInfo(
            rule=api.SIPDispatchRule(
                dispatch_rule_direct=api.SIPDispatchRuleDirect(room_name=room)
            ),
            trunk_ids=[trunk.sip_trunk_id],
        )
        if agent:
            rule.room_config.agents.append(api.RoomAgentDispatch(agent_name=agent))
        created = await self.lk.sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(dispatch_rule=rule)
        )
        self._inbound.append((trunk.sip_trunk_id, created.sip_dispatch_rule_id))
        if not agent:
            stand_in = StandInAgent(self.url, self.api_key, self.api_secret, room)
            await stand_in.join(lambda kind, who, detail: self.events.append((kind, who, detail)))
            self.agents[room] = stand_in
        self.caller = Caller(
            self.folder, number, to=called, bridge=self.bridge, hangup_after=hangup_after
        )
        await self.caller.start()
        caller = self.caller
        # The bridge answers once it hears an agent (a worker: once its session speaks).
        await self.until(lambda: bool(caller.received("200")), 30, "the caller's call answered")
        await self.until(lambda: caller.heard is not None, 10, "media to the caller")
        identity = f"sip_{number}"
        who = api.RoomParticipantIdentity(room=room, identity=identity)
        deadline = time.monotonic() + 10  # active once the caller's media arrived (<= 1 s)
        while (await self.lk.room.get_participant(who)).attributes["sip.callStatus"] != "active":
            if time.monotonic() > deadline:
                raise TimeoutError("the caller's call never became active")
            await asyncio.sleep(0.05)
        return identity

    def feed(self, engine: TransferEngine, media: RecordingMedia, room: str) -> None:
        """The library's own `EventFeed` on the stand-in agent's real `rtc.Room`."""
        feed = EventFeed(lambda: engine.watching(room))
        feed.attach(self.agents[room].room, room)
        self._feeds.append(feed)

    def supervisor_calls(self) -> list[PhoneCall]:
        if self.carrier is None:
            return []
        calls = []
        live = self.carrier.live()
        for invite in self.carrier.invites():
            number = invite.to_user
            received = tuple(m for m in self.carrier.call(invite.call_id) if m != "NOTIFY")
            calls.append(
                PhoneCall(
                    number, invite.from_user, received, invite.call_id in live, invite.headers
                )
            )
        return calls

    def caller_received(self) -> tuple[str, ...]:
        if self.caller is None:
            return ()
        methods = [m.method for m in self.caller.received() if m.is_request]
        return tuple(
            m for i, m in enumerate(methods) if m != "NOTIFY" and methods[i - 1 : i] != [m]
        )

    async def heard_each_other(self, since: float, packets: int, seconds: float) -> None:
        """Until each phone got `packets` loud packets (20 ms each) from the other after
        `since` (monotonic), the two of them talking after a merge."""
        caller, carrier = self.caller, self.carrier
        assert caller is not None
        assert carrier is not None

        def talking() -> bool:
            heard, phone = caller.heard, carrier.heard(SUPERVISOR)
            return bool(
                heard and phone and heard.loud(since) > packets and phone.loud(since) > packets
            )

        await self.until(talking, seconds, "both phones hearing each other")

    async def hang_up_caller(self) -> None:
        assert self.caller is not None
        self.caller.hang_up()
        await self.caller.wait_ended()

    async def hang_up_supervisor(self) -> None:
        """Once the phone hears the bridge (a person hangs up a call they heard), and until the
        bridge has answered the phone's BYE."""
        carrier = self.carrier
        assert carrier is not None
        answered = [i for i in carrier.invites() if "ACK" in carrier.call(i.call_id)]
        call = answered[-1]
        await self.until(lambda: carrier.heard(call.to_user) is not None, 5, "media at the phone")
        carrier.hang_up(call.call_id)
        try:
            await self.until(lambda: carrier.bye_answered(call.call_id), 5, "BYE answered")
        except TimeoutError:
            raise AssertionError(
                f"the bridge left the supervisor's BYE unanswered: "
                f"{carrier.exchange(call.call_id)}"
            ) from None

    def _debug_rooms(self) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.debug_port}/debug/rooms"
        with urllib.request.urlopen(url, timeout=5) as answer:
            rooms: list[dict[str, Any]] = json.loads(answer.read())
        return rooms

    async def subscribed(self, room: str, listener: str, speaker: str) -> bool:
        listing = await self.lk.room.list_participants(api.ListParticipantsRequest(room=room))
        sids = {p.identity: p.sid for p in listing.participants}
        if listener not in sids or speaker not in sids:
            return False
        rooms = await asyncio.to_thread(self._debug_rooms)
        for info in rooms:
            if info.get("Name") != room:
                continue
            published = info["Participants"].get(speaker, {}).get("UpTrackManager", {})
            for track in published.get("PublishedTracks", {}).values():
                for down in track.get("DownTracks") or []:
                    if down.get("SubscriberID") == sids[listener]:
                        return True
        return False

    async def agent_leave(self, room: str) -> None:
        agent = self.agents.get(room)
        if agent is not None:
            await agent.quiet()

    async def rooms(self) -> list[str]:
        listing = await self.lk.room.list_rooms(api.ListRoomsRequest())
        return sorted(room.name for room in listing.rooms)

    async def close(self) -> None:
        """Hang up everything the test left (deleting the rooms it made), stop the phones."""
        try:
            for feed in self._feeds:
                feed.detach_all()
            for agent in self.agents.values():
                await agent.leave()
            for room in set(await self.rooms()) - self.preexisting:
                await self.lk.room.delete_room(api.DeleteRoomRequest(room=room))
            caller, carrier = self.caller, self.carrier
            with contextlib.suppress(TimeoutError):
                await self.until(
                    lambda: (
                        (caller is None or not caller.sipp or not caller.sipp.running())
                        and (carrier is None or not carrier.live())
                    ),
                    5,
                    "the phones hung up",
                )
            for trunk, rule in self._inbound:
                await self.lk.sip.delete_dispatch_rule(
                    api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule)
                )
                await self.lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk))
        finally:
            if self.caller is not None:
                await self.caller.aclose()
            if self.carrier is not None:
                await self.carrier.aclose()
            await self.lk.aclose()


async def outbound_trunk(lk: api.LiveKitAPI) -> str:
    """The trunk to the supervisors' phones (the `Carrier`), owning the business number."""
    trunk = await lk.sip.create_outbound_trunk(
        api.CreateSIPOutboundTrunkRequest(
            trunk=api.SIPOutboundTrunkInfo(
                name="e2e carrier", address=f"127.0.0.1:{CARRIER_PORT}", numbers=[BUSINESS]
            )
        )
    )
    return trunk.sip_trunk_id
