"""How often livekit-server closes an answered `in_room` leg with `NEGOTIATE_FAILED`, and how
many subscriptions it made on the supervisors' legs only to undo them.

Usage: python -m tests.e2e.harness.negotiate --legs 30 [--server-debug] [--out FILE]
(the stack is started and stopped here unless `make stack-up` runs one; wrap in
`flock /tmp/realstack.lock` on a shared machine). `test_negotiate.py` runs a few legs in
`make e2e`.

Each leg is a `warm_transfer` with the engine for real: the supervisor answers, is isolated
(`in_room`), briefed, and accepts, declines or hangs up (in turn). The server's own log says
when it closed a participant and why (`participant closing ... "reason": "NEGOTIATE_FAILED"`,
`rtc/participant.go`, with the `negotiation failed` warning before it giving the cause): the
lines logged for the transfer's rooms are counted, per room. With `--server-debug` (a stack
started here, its server logging at debug), also its `executing unsubscribe` lines for the
supervisors' legs: subscriptions the server made (a WebRTC negotiation with the leg) and then
undid (a second), which is what the engine's withholding at the answer is for
(engine/in_room.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from livekit import api

from orchestrator.sandbox.scenario import PhoneSpec
from stack.build import LOGS, build
from stack.run import PIDS, PORTS, down, read_env, running, up
from tests.e2e.harness.real import RealTarget, outbound_trunk
from tests.e2e.harness.targets import SUPERVISOR
from tests.e2e.harness.transfers import flow, run

__all__ = ["Count", "closed_by_negotiation", "measure"]

ROOT = Path(__file__).resolve().parents[3]
SERVER_LOG = LOGS / "livekit-server.log"
# In turn: the supervisor accepts, declines, hangs up during the brief (the CI run where the
# server closed a leg was the last kind).
PHONES = (
    PhoneSpec(answer=1.0, on_brief="accept", decide_after=2.0),
    PhoneSpec(answer=1.0, on_brief="decline", decide_after=1.5),
    PhoneSpec(answer=1.0, on_brief="hangup", decide_after=1.5),
)


@dataclass
class Count:
    answered_legs: int = 0
    """Transfers whose supervisor answered (the engine isolated the leg)."""
    failed_legs: int = 0
    """Of those, the ones whose supervisor leg the server closed with NEGOTIATE_FAILED."""
    failed_callers: int = 0
    """Callers the server closed with NEGOTIATE_FAILED during a transfer."""
    outcomes: dict[str, int] = field(default_factory=dict)
    closings: list[dict[str, str]] = field(default_factory=list)
    """Every NEGOTIATE_FAILED closing seen: room, participant, when."""
    causes: list[str] = field(default_factory=list)
    """The server's reason for each `negotiation failed` in those rooms."""
    undone_subscriptions: int | None = None
    """Subscriptions the server made on a supervisor's leg and undid (`executing
    unsubscribe`); None when its log is not at debug level."""


def _lines(log: str, rooms: set[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(time, message, fields) of the server's log lines about `rooms`."""
    found = []
    for line in log.splitlines():
        parts = line.split("\t")
        if len(parts) < 6:
            continue
        try:
            fields = json.loads(parts[5])
        except ValueError:
            continue
        if isinstance(fields, dict) and str(fields.get("room")) in rooms:
            found.append((parts[0], parts[4], fields))
    return found


def closed_by_negotiation(log: str, rooms: set[str]) -> list[dict[str, str]]:
    """The server's `participant closing` lines with reason NEGOTIATE_FAILED in `rooms`."""
    return [
        {"at": at, "room": str(fields["room"]), "participant": str(fields.get("participant"))}
        for at, message, fields in _lines(log, rooms)
        if message == "participant closing" and fields.get("reason") == "NEGOTIATE_FAILED"
    ]


def read_server_log(count: Count, log: str, rooms: set[str]) -> None:
    """Fill `count` from the server's log lines about `rooms`."""
    lines = _lines(log, rooms)
    count.closings = closed_by_negotiation(log, rooms)
    count.failed_legs = len(
        {c["room"] for c in count.closings if c["participant"].startswith("supervisor-")}
    )
    count.failed_callers = len(
        {c["room"] for c in count.closings if c["participant"].startswith("sip_")}
    )
    count.causes = [str(f.get("reason")) for _, m, f in lines if m == "negotiation failed"]
    if "\tDEBUG\t" in log:  # a server logging at debug level (`--server-debug`)
        count.undone_subscriptions = sum(
            1
            for _, message, fields in lines
            if message == "executing unsubscribe"
            and str(fields.get("participant")).startswith("supervisor-")
        )


async def _target(env: dict[str, str], trunk: str, room: str) -> RealTarget:
    """The real stack as a target for one leg, its files under build/negotiate/ROOM."""
    folder = ROOT / "build" / "negotiate" / room
    folder.mkdir(parents=True, exist_ok=True)
    target = RealTarget(env, folder, trunk, PORTS.debug)
    await target.begin()
    return target


async def measure(env: dict[str, str], trunk: str, legs: int, tag: str) -> Count:
    count = Count()
    offset = SERVER_LOG.stat().st_size if SERVER_LOG.exists() else 0
    rooms: set[str] = set()
    for index in range(legs):
        room = f"negotiate-{tag}-{index}"
        rooms.add(room)
        target = await _target(env, trunk, room)
        try:
            result = await run(
                target,
                flow("warm_transfer"),
                room=room,
                phones={SUPERVISOR: PHONES[index % len(PHONES)]},
            )
        finally:
            await target.close()
        kind = result.outcome.kind
        count.outcomes[kind] = count.outcomes.get(kind, 0) + 1
        answered = any(a.result == "answered" for a in result.outcome.attempts)
        count.answered_legs += int(answered or kind == "merged")
        print(f"leg {index + 1}/{legs}: {kind}", file=sys.stderr, flush=True)
    await asyncio.sleep(1.0)  # the server writes its last lines
    with SERVER_LOG.open(errors="replace") as log:
        log.seek(offset)
        read_server_log(count, log.read(), rooms)
    return count


def _bridge_pid() -> int:
    records = json.loads(PIDS.read_text())
    return next(int(r["pid"]) for r in records if r["name"] == "livekit-sip")


async def probe(
    env: dict[str, str], trunk: str, delays: list[float], tag: str, stall: float = 0.0
) -> Count:
    """Not the engine: dial a leg, then cut it off from the room (both ways, as `isolate`
    does) `delay` seconds after CreateSIPParticipant returned, to scan the window in which
    the cut meets the SIP bridge's own subscription. `stall`: the bridge (this stack's
    livekit-sip, started here) is paused (SIGSTOP) from the answer until `stall` seconds
    after the cut, as a loaded machine would: the cut lands before it answered the server's
    offer for its new subscriptions."""
    count = Count()
    offset = SERVER_LOG.stat().st_size if SERVER_LOG.exists() else 0
    rooms: set[str] = set()
    for index, delay in enumerate(delays):
        room = f"probe-{tag}-{index}"
        rooms.add(room)
        target = await _target(env, trunk, room)
        try:
            await target.phones({SUPERVISOR: PhoneSpec(answer=0.5, on_brief="silent")})
            caller = await target.call_in(room)
            identity = f"supervisor-{index}"
            request = api.CreateSIPParticipantRequest(
                sip_trunk_id=trunk,
                sip_call_to=SUPERVISOR,
                room_name=room,
                participant_identity=identity,
                wait_until_answered=True,
            )
            await target.lk.sip.create_sip_participant(request, timeout=20)
            if stall:
                os.kill(_bridge_pid(), signal.SIGSTOP)
            await asyncio.sleep(delay)
            listing = await target.lk.room.list_participants(
                api.ListParticipantsRequest(room=room)
            )
            theirs = [
                t.sid for p in listing.participants if p.identity == identity for t in p.tracks
            ]
            heard = [
                t.sid for p in listing.participants if p.identity != identity for t in p.tracks
            ]
            if theirs:
                await target.lk.room.update_subscriptions(
                    api.UpdateSubscriptionsRequest(
                        room=room, identity=caller, track_sids=theirs, subscribe=False
                    )
                )
            await target.lk.room.update_subscriptions(
                api.UpdateSubscriptionsRequest(
                    room=room, identity=identity, track_sids=heard, subscribe=False
                )
            )
            count.answered_legs += 1
            if stall:
                await asyncio.sleep(stall)
                os.kill(_bridge_pid(), signal.SIGCONT)
            await asyncio.sleep(1.5)
        finally:
            if stall:
                os.kill(_bridge_pid(), signal.SIGCONT)
            await target.close()
        print(f"probe {index + 1}/{len(delays)}: delay {delay}", file=sys.stderr, flush=True)
    await asyncio.sleep(1.0)
    with SERVER_LOG.open(errors="replace") as log:
        log.seek(offset)
        read_server_log(count, log.read(), rooms)
    return count


async def _session(legs: int, tag: str, delays: list[float], stall: float) -> Count:
    env = read_env()
    async with api.LiveKitAPI(
        env["LIVEKIT_URL"], env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]
    ) as lk:
        trunk = await outbound_trunk(lk)
        try:
            if delays:
                return await probe(env, trunk, delays, tag, stall)
            return await measure(env, trunk, legs, tag)
        finally:
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.harness.negotiate")
    parser.add_argument("--legs", type=int, default=30, help="answered legs to run (>= 1)")
    parser.add_argument("--out", default="build/negotiate.json", help="where the counts go")
    parser.add_argument(
        "--probe",
        default="",
        help="instead of transfers: comma-separated delays (s) of the cut after the answer",
    )
    parser.add_argument(
        "--stall", type=float, default=0.0, help="with --probe: seconds the bridge is paused"
    )
    parser.add_argument(
        "--server-debug",
        action="store_true",
        help="start the stack with livekit-server logging at debug level (counts the "
        "subscriptions made and undone on supervisors' legs)",
    )
    args = parser.parse_args(argv)
    if args.legs < 1:
        parser.error("--legs: give 1 or more")
    started = not running()
    if args.server_debug and not started:
        parser.error("--server-debug: a stack is running already; stop it (make stack-down)")
    if started:
        build()
        up(detach=True, server_log_level="debug" if args.server_debug else "info")
    try:
        began = time.monotonic()
        delays = [float(d) for d in args.probe.split(",") if d]
        count = asyncio.run(_session(args.legs, str(int(time.time())), delays, args.stall))
    finally:
        if started:
            down()
    figures = {
        "negotiate_answered_legs": count.answered_legs,
        "negotiate_failed_legs": count.failed_legs,
        "negotiate_failed_callers": count.failed_callers,
        "undone_subscriptions": count.undone_subscriptions,
        "causes": count.causes,
        "seconds": round(time.monotonic() - began, 1),
        **{k: v for k, v in asdict(count).items() if k in ("outcomes", "closings")},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if SERVER_LOG.exists():  # the evidence: the next `up` starts the log afresh
        shutil.copyfile(SERVER_LOG, out.with_suffix(".server.log"))
    out.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
