"""`livekit.SIP`: outbound trunks, CreateSIPParticipant and TransferSIPParticipant.

Validation runs in the server's order with its messages. A dial with `wait_until_answered`
answers only once the phone is answered (or fails with the SIP-derived error, carrying
`sip_status_code` / `sip_status` metadata; no answer is `canceled` without SIP metadata); without
it, the answer comes right after the participant joined, and failures show only as the
participant leaving. `sip_number` is the From number (the caller ID); a trunk with
`caller_id_policy: owned_only` answers 403 to a From it does not own.
"""

from __future__ import annotations

import asyncio
import re

from google.protobuf.duration_pb2 import Duration
from livekit.protocol import models, sip as pb

from orchestrator.sandbox.auth import Grants
from orchestrator.sandbox.core import Core, handler
from orchestrator.sandbox.legs import DEFAULT_RINGING_TIMEOUT
from orchestrator.sandbox.state import new_id
from orchestrator.sandbox.twirp import PSRPC_PREFIX, TwirpError

__all__: list[str] = []

# LiveKit's ForbiddenSipHeaderNames, lower-cased (To and Via only warn there).
_FORBIDDEN_HEADERS = frozenset(
    {
        *("accept", "accept-encoding", "accept-language", "allow", "allow-events", "call-id"),
        *("contact", "content-disposition", "content-encoding", "content-language"),
        *("content-length", "content-type", "cseq", "event", "expires", "from"),
        *("max-forwards", "record-route", "refer-to", "reply-to"),
        *("k", "l", "m", "o", "r", "t", "u", "v"),
    }
)
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,1024}")
_TRANSFER_TO = re.compile(r"<?(sips?|tel):[^\s<>]+>?")


def _no_trunk() -> TwirpError:
    return TwirpError("not_found", "requested sip trunk does not exist")


def _seconds(duration: Duration, name: str) -> float:
    if not 0 <= duration.seconds <= 86_400:
        raise TwirpError("invalid_argument", f"{name} out of range")
    return duration.seconds + duration.nanos / 1e9


def _check_headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        if name.lower() in _FORBIDDEN_HEADERS:
            raise TwirpError(
                "invalid_argument", f"invalid header name: header name {name} not supported"
            )
        if not _HEADER_VALUE.fullmatch(value):
            raise TwirpError("invalid_argument", f"invalid header value for {name}")


def _validate_dial(req: pb.CreateSIPParticipantRequest) -> None:
    if not req.sip_trunk_id and not req.HasField("trunk") and not req.sip_number:
        raise TwirpError("invalid_argument", "missing sip trunk id and sip number")
    if not req.sip_call_to:
        raise TwirpError("invalid_argument", "missing sip callee number")
    if "@" in req.sip_call_to:
        raise TwirpError(
            "invalid_argument",
            "SipCallTo should be a phone number or SIP user, not a full SIP URI",
        )
    if not req.room_name:
        raise TwirpError("invalid_argument", "missing room name")
    if req.HasField("display_name") and len(req.display_name) > 128:
        raise TwirpError("invalid_argument", "display name too long")
    _check_headers(dict(req.headers))


def _trunk(core: Core, req: pb.CreateSIPParticipantRequest) -> tuple[str, list[str], str]:
    """Trunk id, owned numbers and host of the trunk the request names."""
    if req.sip_trunk_id:
        trunk = core.trunks.get(req.sip_trunk_id)
        if trunk is None:
            raise _no_trunk()
        return trunk.sip_trunk_id, list(trunk.numbers), trunk.address
    if not req.trunk.hostname:
        raise TwirpError("invalid_argument", "missing trunk hostname")
    return "", [], req.trunk.hostname


@handler("SIP", "CreateSIPParticipant")
async def create_sip_participant(
    core: Core, grants: Grants, req: pb.CreateSIPParticipantRequest
) -> pb.SIPParticipantInfo:
    grants.sip_call()
    _validate_dial(req)
    trunk_id, numbers, host = _trunk(core, req)
    caller_id = req.sip_number or (numbers[0] if numbers else "")
    if not caller_id:
        raise TwirpError("failed_precondition", "no numbers on outbound trunk")
    identity = req.participant_identity or f"sip_{req.sip_call_to}"
    info = models.ParticipantInfo(
        identity=identity,
        name=req.participant_name,
        metadata=req.participant_metadata,
        kind=models.ParticipantInfo.Kind.SIP,
    )
    info.attributes.update(req.participant_attributes)
    info.attributes.update({"sip.callID": new_id("SCL_"), "sip.trunkID": trunk_id})
    if not req.hide_phone_number:
        info.attributes.update(
            {
                "sip.phoneNumber": req.sip_call_to,
                "sip.trunkPhoneNumber": caller_id,
                "sip.hostname": host,
            }
        )
    info.attributes["sip.callStatus"] = "dialing"
    ring = _seconds(req.ringing_timeout, "ringing_timeout") or DEFAULT_RINGING_TIMEOUT
    policy = core.scenario.trunk
    refused = (
        trunk_id == policy.id
        and policy.caller_id_policy == "owned_only"
        and caller_id not in numbers
    )
    # A carrier refuses a From number the trunk does not own with SIP 403.
    leg = core.legs.dial(
        req.room_name,
        info,
        req.sip_call_to,
        ring,
        req.dtmf,
        caller_id=caller_id,
        reject=403 if refused else None,
    )
    result = pb.SIPParticipantInfo(
        participant_id=info.sid,
        participant_identity=identity,
        room_name=req.room_name,
        sip_call_id=leg.call_id,
    )
    if req.wait_until_answered:
        with core.parked():
            await asyncio.shield(leg.answered)
    return result


@handler("SIP", "CreateSIPOutboundTrunk")
async def create_outbound_trunk(
    core: Core, grants: Grants, req: pb.CreateSIPOutboundTrunkRequest
) -> pb.SIPOutboundTrunkInfo:
    grants.sip_admin()
    trunk = pb.SIPOutboundTrunkInfo()
    trunk.CopyFrom(req.trunk)
    trunk.sip_trunk_id = new_id("ST_")
    core.trunks[trunk.sip_trunk_id] = trunk
    return trunk


@handler("SIP", "ListSIPOutboundTrunk")
async def list_outbound_trunks(
    core: Core, grants: Grants, req: pb.ListSIPOutboundTrunkRequest
) -> pb.ListSIPOutboundTrunkResponse:
    grants.sip_admin()
    wanted = set(req.trunk_ids)
    items = [t for i, t in core.trunks.items() if not wanted or i in wanted]
    return pb.ListSIPOutboundTrunkResponse(items=items)


@handler("SIP", "GetSIPOutboundTrunk")
async def get_outbound_trunk(
    core: Core, grants: Grants, req: pb.GetSIPOutboundTrunkRequest
) -> pb.GetSIPOutboundTrunkResponse:
    grants.sip_admin()
    trunk = core.trunks.get(req.sip_trunk_id)
    if trunk is None:
        raise _no_trunk()
    return pb.GetSIPOutboundTrunkResponse(trunk=trunk)


@handler("SIP", "DeleteSIPTrunk")
async def delete_trunk(
    core: Core, grants: Grants, req: pb.DeleteSIPTrunkRequest
) -> pb.SIPTrunkInfo:
    grants.sip_admin()
    trunk = core.trunks.pop(req.sip_trunk_id, None)
    if trunk is None:
        raise _no_trunk()
    return pb.SIPTrunkInfo(sip_trunk_id=trunk.sip_trunk_id, name=trunk.name)


def _transfer_number(transfer_to: str) -> str:
    uri = transfer_to.strip("<>")
    scheme, _, rest = uri.partition(":")
    return rest if scheme == "tel" else rest.split("@", 1)[0].split(";", 1)[0]


@handler("SIP", "TransferSIPParticipant")
async def transfer_sip_participant(
    core: Core, grants: Grants, req: pb.TransferSIPParticipantRequest
) -> pb.TransferSIPParticipantResponse:
    if not req.room_name:
        raise TwirpError("invalid_argument", "Missing room name")
    if not req.participant_identity:
        raise TwirpError("invalid_argument", "Missing participant identity")
    grants.sip_call()
    grants.room_admin(req.room_name)
    if not _TRANSFER_TO.fullmatch(req.transfer_to):
        raise TwirpError(
            "invalid_argument",
            "transfer_to must be a valid SIP(s) or TEL URI (sip:, sips: or tel:)",
        )
    _check_headers(dict(req.headers))
    member = core.world.member(req.room_name, req.participant_identity)
    if member is None:
        raise TwirpError("not_found", PSRPC_PREFIX + "participant does not exist")
    if "sip.callID" not in member.info.attributes:
        raise TwirpError("invalid_argument", "no SIP session associated with participant")
    leg = core.legs.get(req.room_name, req.participant_identity)
    if leg is None:
        raise TwirpError("not_found", PSRPC_PREFIX + "unknown call")
    if leg.status != "active":
        raise TwirpError("failed_precondition", "can't transfer non established call")
    if leg.transfer is not None and not leg.transfer.done():
        if leg.transfer_to != req.transfer_to:
            raise TwirpError("invalid_argument", "call already being transferred elsewhere")
    else:
        ring = _seconds(req.ringing_timeout, "ringing_timeout") or 30.0
        phone = core.scenario.phone(_transfer_number(req.transfer_to))
        leg.transfer_to = req.transfer_to
        leg.transfer = core.world.spawn(core.legs.refer(leg, phone, ring))
    transfer_id = new_id("STR_")
    try:
        with core.parked():
            completed = await asyncio.shield(leg.transfer)
    except TwirpError as error:
        if core.flavor == "cloud":
            reason = "STR_RINGING_TIMEOUT" if error.code == "canceled" else "STR_REJECTED"
            error.meta.update({"sip_transfer_reason": reason, "sip_transfer_id": transfer_id})
        raise
    if core.flavor == "oss":
        return pb.TransferSIPParticipantResponse()  # open-source SIP still answers Empty
    if not completed:
        return pb.TransferSIPParticipantResponse(
            transfer_id=transfer_id,
            status=pb.SIPTransferStatus.STS_TRANSFER_FAILED,
            reason=pb.SIPTransferReason.STR_CALL_ENDED,
        )
    return pb.TransferSIPParticipantResponse(
        transfer_id=transfer_id,
        status=pb.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL,
        reason=pb.SIPTransferReason.STR_COMPLETED,
        sip_status=pb.SIPStatus(code=pb.SIPStatusCode.SIP_STATUS_OK, status="OK"),
    )
