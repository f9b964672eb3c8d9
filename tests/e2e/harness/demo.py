"""`make real-demo`: one real warm transfer on this machine, start to last BYE, explained.

It builds and starts the real stack (LiveKit's server and SIP bridge; one `make stack-up`
already runs is used and left running), creates an outbound trunk to a sipp "carrier" whose
supervisor phone answers and presses 1, starts `examples/warm_transfer_agent.py` with the
offline models, and calls in from a sipp caller phone through an inbound trunk whose dispatch
rule sends the call to that worker. The worker greets the caller and transfers at once; after
the merge the two phones talk (each hears the other's tone), then the caller hangs up and the
supervisor's phone must get BYE. Then it prints the timeline: every SIP message each phone
received or sent and the worker's transfer events, on one clock. Everything it started is
stopped, and everything it created on the server is deleted, also when a step fails.

Files (phone traces, the worker's log) are kept in build/real-demo/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from livekit import api

from orchestrator.sandbox.scenario import PhoneSpec
from stack.build import build
from stack.run import PORTS, down, read_env, running, up
from tests.e2e.harness.deadline import until
from tests.e2e.harness.real import RealTarget, outbound_trunk
from tests.e2e.harness.sipp import Message
from tests.e2e.harness.targets import CALLER, SUPERVISOR
from tests.e2e.harness.workers import Worker

ROOT = Path(__file__).resolve().parents[3]
FOLDER = ROOT / "build" / "real-demo"
AGENT = "warm-transfer-demo"
ROOM = "real-demo"


def say(text: str) -> None:
    print(f"real-demo: {text}", flush=True)


def _example_worker(env: dict[str, str], trunk: str) -> Worker:
    """`python examples/warm_transfer_agent.py start`, as a user runs it, logging JSON."""
    return Worker(
        FOLDER,
        env,
        trunk,
        "worker",
        script="examples/warm_transfer_agent.py",
        LIVEKIT_AGENT_NAME=AGENT,
        WARM_TRANSFER_OFFLINE="1",
        WARM_TRANSFER_LOG_FORMAT="json",
        WARM_TRANSFER_HTTP_HOST="127.0.0.1",
        WARM_TRANSFER_HTTP_PORT="0",
    )


def _logged(worker: Worker) -> list[dict[str, Any]]:
    """The library's log events in the worker's output (one JSON object per line)."""
    found = []
    for line in worker.log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and str(event.get("event", "")).startswith(
                ("transfer.", "dial.")
            ):
                found.append(event)
    return found


def _first(worker: Worker, name: str) -> dict[str, Any] | None:
    return next((e for e in _logged(worker) if e["event"] == name), None)


def _sip_line(who: str, message: Message) -> tuple[float, str]:
    arrow = "<-" if message.received else "->"
    text = message.start if message.is_request else message.start.removeprefix("SIP/2.0 ")
    if message.is_request:
        text = text.split(" sip", 1)[0]  # the method (the URI carries a number)
    return message.at, f"{who:<11} {arrow} {text}"


def _event_line(event: dict[str, Any]) -> tuple[float, str]:
    at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
    name = event["event"]
    if name == "transfer.transition":
        detail = f"{event.get('from_state')} -> {event.get('to_state')}"
    else:
        keys = ("outcome", "reason", "hung_up_first", "call_seconds", "release_ms", "to")
        detail = " ".join(f"{k}={event[k]}" for k in keys if k in event)
    return at, f"{'worker':<11} ** {name} {detail}".rstrip()


async def demo(env: dict[str, str]) -> int:
    lk = api.LiveKitAPI(env["LIVEKIT_URL"], env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"])
    trunk = await outbound_trunk(lk)
    target = RealTarget(env, FOLDER, trunk, PORTS.debug)
    worker = _example_worker(env, trunk)
    try:
        await target.begin()
        say("the supervisor's phone: answers after 1 s, presses 1 after the brief")
        await target.phones({SUPERVISOR: PhoneSpec(answer=1.0, on_brief="accept")})
        say("starting examples/warm_transfer_agent.py (offline models)")
        worker.start()
        await worker.registered()
        say("the caller calls in; the agent greets them and transfers at once")
        await target.call_in(ROOM, agent=AGENT)
        await until(lambda: _first(worker, "transfer.finished") is not None, 120, "an outcome")
        finished = _first(worker, "transfer.finished")
        assert finished is not None
        say(f"transfer outcome: {finished['outcome']}")
        if finished["outcome"] != "merged":
            say(f"not merged ({finished.get('reason')}): see {worker.log}")
            return 1
        caller, carrier = target.caller, target.carrier
        assert caller is not None
        assert carrier is not None
        await target.heard_each_other(time.monotonic(), 100, 20)
        say(
            "merged: the caller and the supervisor talked (2 s of sound at each phone); "
            "the caller hangs up"
        )
        await target.hang_up_caller()
        (leg,) = carrier.invites()
        await until(lambda: "BYE" in carrier.call(leg.call_id), 10, "the supervisor's BYE")
        await until(lambda: _first(worker, "transfer.call_ended") is not None, 10, "call end")
        shown = leg.from_user == CALLER
        hung_up, released = caller.when("BYE", received=False), carrier.when(leg.call_id, "BYE")
        assert caller.sipp is not None
        assert carrier.sipp is not None
        lines = [_sip_line("caller", m) for m in caller.sipp.messages]
        lines += [_sip_line("supervisor", m) for m in carrier.sipp.messages]
        lines += [_event_line(e) for e in _logged(worker)]
        lines.sort()
        print("\ntimeline (seconds from the caller's INVITE; <- received, -> sent)")
        for at, text in lines:
            print(f"  {at - lines[0][0]:8.3f}  {text}")
        print()
        say(f"the supervisor's INVITE showed the caller's number: {'yes' if shown else 'NO'}")
        if hung_up is not None and released is not None:
            say(f"the supervisor's phone got BYE {released - hung_up:.3f} s after the caller's")
        say(f"phone traces and the worker's log: {FOLDER.relative_to(ROOT)}/")
        return 0 if shown else 1
    finally:
        say("stopping the worker and the phones, deleting what was created")
        await asyncio.to_thread(worker.stop)
        await target.close()
        await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk))
        await lk.aclose()


def _run(env: dict[str, str]) -> int:
    try:
        return asyncio.run(demo(env))
    except TimeoutError as error:
        say(f"failed: {error}; see {FOLDER.relative_to(ROOT)}/")
        return 1


def main() -> int:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for old in FOLDER.iterdir():
        old.unlink()
    if running():
        say("using the stack `make stack-up` runs (left running)")
        return _run(read_env())
    say("building the stack if needed (the first time takes several minutes)")
    build()
    say("starting livekit-server, livekit-sip and Redis on 127.0.0.1")
    env = up(detach=False)
    try:
        return _run(env)
    finally:
        say("stopping the stack")
        down()


if __name__ == "__main__":
    sys.exit(main())
