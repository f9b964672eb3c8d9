"""Before go-live: what a flow needs from a LiveKit deployment, checked against it.

Every check is a read or a probe that changes nothing: ListParticipants of an empty room for
the credentials, the engine's probes (`orchestrator.livekit.probe`) for its grants and the merge
strategy, ListSIPOutboundTrunk for the trunks and their numbers. What cannot be checked
remotely is said, with advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import structlog
from livekit import api

from orchestrator.errors import LiveKitError
from orchestrator.flow.model import DialStep, Flow
from orchestrator.livekit.gateway import Gateway
from orchestrator.livekit.probe import PROBE, Capabilities, probe
from orchestrator.logs import mask

__all__ = ["Check", "preflight"]


@dataclass(frozen=True)
class Check:
    """One finding: `ok`, `fail` (the flow will not work there) or `note` (advice)."""

    status: Literal["ok", "fail", "note"]
    topic: str
    detail: str


async def preflight(
    flow: Flow, url: str, api_key: str, api_secret: str, trunk: str
) -> list[Check]:
    gateway = Gateway(url, api_key, api_secret)
    log = structlog.get_logger("orchestrator.preflight").bind(transfer_id="", flow=flow.name)
    try:
        return await _checks(gateway, log, flow, trunk)
    finally:
        await gateway.close()


async def _checks(gateway: Gateway, log: Any, flow: Flow, trunk: str) -> list[Check]:
    try:
        # What the engine asks first for every transfer (room admin); nobody is in this room.
        await gateway.list_participants(log, PROBE)
        can = await probe(gateway, log)
    except LiveKitError as error:
        return [Check("fail", "credentials", _refusal(error))]
    except Exception as error:  # no server there: nothing else can be checked
        text = f"no LiveKit server answered at LIVEKIT_URL ({type(error).__name__})"
        return [Check("fail", "credentials", text)]
    found = [Check("ok", "credentials", "the API key and secret are accepted")]
    found += _grants(flow, can)
    found += await _trunk(gateway, log, flow, trunk)
    if any(step.type == "merge" for step in flow.steps.values()):
        found.append(_merge(flow, can))
    if flow.caller_id.mode == "preserve":
        found.append(
            Check(
                "note",
                "caller ID",
                "whether the carrier lets the trunk present the caller's own number cannot be "
                "checked from here; many require the number to be verified, or a Diversion "
                "header (caller_id.diversion). Keep caller_id.business_number and "
                "on_rejection: business_number so a refusal redials once with your number.",
            )
        )
    return found


async def _trunk(gateway: Gateway, log: Any, flow: Flow, default: str) -> list[Check]:
    dials = [step for step in flow.steps.values() if isinstance(step, DialStep)]
    needed = {step.trunk or flow.trunk or default for step in dials}
    if "" in needed:
        return [
            Check(
                "fail",
                "trunk",
                "no outbound trunk: set trunk in the flow or LIVEKIT_SIP_OUTBOUND_TRUNK",
            )
        ]
    request = api.ListSIPOutboundTrunkRequest()
    try:
        answer = await gateway.call(
            log,
            "SIP.ListSIPOutboundTrunk",
            lambda: gateway.client.sip.list_outbound_trunk(request),
        )
    except LiveKitError as error:
        return [Check("fail", "trunk", _refusal(error))]
    trunks = {item.sip_trunk_id: item for item in answer.items}
    found = []
    business = flow.caller_id.business_number
    for trunk_id in sorted(needed):
        item = trunks.get(trunk_id)
        if item is None:
            found.append(
                Check(
                    "fail",
                    "trunk",
                    f"outbound trunk {trunk_id} does not exist on "
                    "this server: check the id in the flow or LIVEKIT_SIP_OUTBOUND_TRUNK",
                )
            )
            continue
        numbers = list(item.numbers)
        found.append(
            Check("ok", "trunk", f"outbound trunk {trunk_id} exists, {len(numbers)} number(s)")
        )
        if business and numbers and business not in numbers:
            found.append(
                Check(
                    "fail",
                    "caller ID",
                    f"caller_id.business_number "
                    f"{mask(business)} is not a number of trunk {trunk_id}: the "
                    "fallback redial would be refused too",
                )
            )
    return found


def _grants(flow: Flow, can: Capabilities) -> list[Check]:
    kinds = {step.type for step in flow.steps.values()}
    needed = {"sip.call": bool(kinds & {"dial", "cold_transfer"}), "roomCreate": "dial" in kinds}
    lacking = sorted(grant for grant, needs in needed.items() if needs and grant in can.missing)
    if lacking:
        return [
            Check(
                "fail",
                "grants",
                f"the API key lacks {', '.join(lacking)}: use one "
                "that has roomAdmin, roomCreate and sip.call",
            )
        ]
    return [Check("ok", "grants", "the API key may administer rooms and place SIP calls")]


def _merge(flow: Flow, can: Capabilities) -> Check:
    if can.move:
        return Check(
            "ok",
            "merge",
            "MoveParticipant is available (LiveKit Cloud): merge "
            f"strategy {'in_room' if flow.merge_strategy == 'in_room' else 'move'}",
        )
    if flow.merge_strategy == "move":
        return Check(
            "fail",
            "merge",
            "this server has no MoveParticipant (self-hosted LiveKit) and the flow says "
            "merge_strategy: move; set in_room or auto",
        )
    return Check(
        "ok",
        "merge",
        "no MoveParticipant (self-hosted LiveKit): the supervisor will be dialled into the "
        "caller's room (merge strategy in_room)",
    )


def _refusal(error: LiveKitError) -> str:
    if error.denied:
        return (
            f"LiveKit refused the credentials ({error.code}): check LIVEKIT_API_KEY and "
            "LIVEKIT_API_SECRET belong to the server at LIVEKIT_URL"
        )
    return f"LiveKit answered {error.code}; try again, or check the server's health"
