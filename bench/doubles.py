"""The bench's stand-ins: a supervisor who accepts at once, an in-process LiveKit behind the
engine's real client, a sandbox in another process, and the straight-line script."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from livekit import api

from orchestrator.engine import Transfer
from orchestrator.testing import RecordingMedia

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuv"
CALLER = "sip_+14155552671"
SUPERVISOR_NUMBER = "+15105550100"


class AcceptingMedia(RecordingMedia):
    """The supervisor presses 1 as soon as the brief starts: only in their own transfer,
    found by the transfer id in their identity (`supervisor-<id>-<attempt>`)."""

    def __init__(self) -> None:
        super().__init__()
        self.transfers: dict[str, Transfer] = {}

    def track(self, transfer: Transfer) -> Transfer:
        self.transfers[transfer.transfer_id] = transfer
        transfer.outcome.add_done_callback(lambda _: self.transfers.pop(transfer.transfer_id))
        return transfer

    async def brief(self, room: str, supervisor: str, text: str) -> None:
        transfer = self.transfers.get(supervisor.split("-")[1])
        if transfer is not None:
            transfer.dtmf(room, supervisor, "1")


class Loopback:
    """Answers the requests the engine's real `Gateway` and livekit-api client built (tokens
    signed, messages serialised, every call logged) in process, instead of over HTTP: what
    is left is the engine's own cost. The caller's attributes are kept, as the claim reads
    them back."""

    def __init__(self) -> None:
        self.attributes: dict[str, dict[str, str]] = {}

    def install(self, *clients: api.LiveKitAPI) -> None:
        for client in clients:
            for service in (client.room, client.sip):
                service._client.request = self.request  # type: ignore[method-assign]

    def _caller(self, room: str) -> api.ParticipantInfo:
        attributes = self.attributes.setdefault(room, {"sip.phoneNumber": "+14155552671"})
        return api.ParticipantInfo(
            identity=CALLER, kind=api.ParticipantInfo.Kind.SIP, attributes=attributes
        )

    async def request(
        self, service: str, method: str, data: Any, headers: Any, response_class: Any, **_: Any
    ) -> Any:
        data.SerializeToString()  # what the HTTP client would have sent
        answer = response_class()
        if method == "ListParticipants":
            answer.participants.append(self._caller(data.room))
        elif method in ("GetParticipant", "UpdateParticipant"):
            if method == "UpdateParticipant":
                self._caller(data.room)
                self.attributes[data.room].update(data.attributes)
            answer.CopyFrom(self._caller(data.room))
        return response_class.FromString(answer.SerializeToString())


def start_sandbox(scenario: dict[str, Any], callers: int) -> tuple[subprocess.Popen[str], str]:
    """A sandbox in its own process, so its CPU is not counted as ours."""
    path = ROOT / "bench" / ".scenario.json"
    path.write_text(json.dumps(scenario))  # JSON is YAML
    command = [sys.executable, "-m", "orchestrator", "sandbox", "--port", "0"]
    command += ["--scenario", str(path), "--api-secret", SECRET, "--callers", str(callers)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(r"LIVEKIT_URL=(\S+)", line):
            return process, match[1]
    raise RuntimeError("the sandbox did not start")


async def straight_line(client: api.LiveKitAPI, room: str, run: int) -> list[str]:
    """The engine's calls for one warm transfer, made one after another with livekit-api."""
    consult, supervisor = f"straight-{run}", f"sup-straight-{run}"
    rpcs: list[str] = []

    def state(value: str) -> dict[str, str]:
        return {
            "transfer.id": "straightline",
            "transfer.state": value,
            "transfer.consult_room": consult,
        }

    async def update(value: str) -> None:
        rpcs.append("RoomService.UpdateParticipant")
        request = api.UpdateParticipantRequest(room=room, identity=CALLER, attributes=state(value))
        await client.room.update_participant(request)

    async def read(identity: str = CALLER) -> None:
        rpcs.append("RoomService.GetParticipant")
        who = api.RoomParticipantIdentity(room=room, identity=identity)
        await client.room.get_participant(who)

    rpcs.append("RoomService.ListParticipants")
    await client.room.list_participants(api.ListParticipantsRequest(room=room))
    await update("requested")  # the claim, read back
    await read()
    await read()  # still ours, before the first dial
    await update("held")
    rpcs.append("RoomService.CreateRoom")
    await client.room.create_room(
        api.CreateRoomRequest(name=consult, empty_timeout=60, departure_timeout=20)
    )
    rpcs.append("SIP.CreateSIPParticipant")
    dial = api.CreateSIPParticipantRequest(
        sip_trunk_id="ST_sandbox",
        sip_call_to=SUPERVISOR_NUMBER,
        sip_number="+14155552671",
        room_name=consult,
        participant_identity=supervisor,
        wait_until_answered=True,
    )
    dial.ringing_timeout.FromSeconds(25)
    await client.sip.create_sip_participant(dial, timeout=35)
    await update("briefing")
    rpcs.append("RoomService.MoveParticipant")
    await client.room.move_participant(
        api.MoveParticipantRequest(room=consult, identity=supervisor, destination_room=room)
    )
    await read(supervisor)  # confirmed in the caller's room before `merged`
    await update("merged")
    rpcs.append("RoomService.DeleteRoom")
    try:
        await client.room.delete_room(api.DeleteRoomRequest(room=consult))
    except api.TwirpError as error:  # an empty room may have closed already, as for the engine
        if error.code != "not_found":
            raise
    # The caller keeps `transfer.state: merged` while the merged call goes on (it ends later).
    return rpcs
