"""The global invariants of the catalogue, checked after every case (`Rig.verify`).

INV-HOLD, INV-DIAL, INV-LEAK, INV-OUTCOME and INV-LOG (reference/reliability.md section 4):
each check adds what it found to the figures first, then the case fails on any of it, so a
failing check always shows in `make reliability`'s report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.flow.model import DialStep
from tests.reliability.figures import FIGURES
from tests.reliability.harness import (
    CREATED,
    DIGIT_RUN,
    KINDS,
    UNSAFE_CHARS,
    allowed_dials,
    canary_hits,
    strings,
    widest_group,
)

if TYPE_CHECKING:
    from orchestrator.engine import Transfer
    from tests.reliability.rig import Rig

__all__ = [
    "check_dials",
    "check_holds",
    "check_leaks",
    "check_releases",
    "no_leaks",
    "one_invite",
    "verify",
]


def verify(rig: Rig) -> None:
    """INV-HOLD, INV-DIAL, INV-LEAK, INV-OUTCOME, INV-LOG; counted, then asserted."""
    FIGURES.invariant_checks += 1
    problems = [*check_dials(rig), *check_holds(rig), *check_leaks(rig), *check_releases(rig)]
    problems += [*check_outcomes(rig), *check_logs(rig)]
    assert not problems, "; ".join(problems)
    rig.verified = True


def no_leaks(rig: Rig, *, logs: bool = True) -> None:
    """INV-LEAK (and INV-LOG) only, for cases the other invariants do not fit."""
    FIGURES.invariant_checks += 1
    assert check_leaks(rig) == []
    assert not logs or check_logs(rig) == []
    rig.verified = True


def one_invite(rig: Rig) -> None:
    """For cases that dial by hand (no transfer): exactly one INVITE, then no leg left."""
    FIGURES.invariant_checks += 1
    FIGURES.duplicate_dials += max(0, len(rig.monitor.invites) - 1)
    assert len(rig.monitor.invites) == 1, f"{len(rig.monitor.invites)} INVITEs"
    for room in [r for r in rig.sandbox.world.rooms if r not in rig.callers]:
        rig.sandbox.world.delete_room(room)
    rig.verified = True


def check_dials(rig: Rig) -> list[str]:
    allowed = sum(allowed_dials(rig.flows[id(t)]) for t in rig.transfers)
    # At most one answered supervisor leg; several ring at once only in a ring group.
    together = max([1, *(widest_group(rig.flows[id(t)]) for t in rig.transfers)])
    invites, requests = len(rig.monitor.invites), len(rig.dials())
    extra = max(0, invites - allowed) + max(0, rig.monitor.max_live - together)
    extra += max(0, requests - allowed) + max(0, rig.monitor.max_answered - 1)
    FIGURES.duplicate_dials += extra
    if extra:
        return [
            f"INV-DIAL: {invites} INVITEs / {requests} dial requests for {allowed} allowed, "
            f"{rig.monitor.max_live} legs live at once ({together} may ring together), "
            f"{rig.monitor.max_answered} answered at once"
        ]
    return []


def check_holds(rig: Rig) -> list[str]:
    problems = []
    for transfer in rig.transfers:
        flow = rig.flows[id(transfer)]
        held = rig.held(transfer)
        FIGURES.hold(held, flow.max_hold)
        if held > flow.max_hold + 1.0:
            problems.append(f"INV-HOLD: caller held {held:.3f} s, max_hold {flow.max_hold}")
        problems += _off_hold_to_outcome(rig, transfer)
    if rig.media.holding:
        FIGURES.leaks_found += len(rig.media.holding)
        problems.append("INV-HOLD: the caller is still on hold at the end")
    return problems


def _off_hold_to_outcome(rig: Rig, transfer: Transfer) -> list[str]:
    """README: cleanup's retries make the outcome come up to a minute and a half after the
    caller is off hold, plus the wait for a dial cut short (its ring timeout + 20 s). Timed
    from the last of: the caller's hold ending, the last transition, a cancellation."""
    ended = rig.ended_at.get(id(transfer))
    if ended is None:
        return []
    moved = rig.moved_at.get(transfer.transfer_id, 0.0)
    start = max(rig.started_at[id(transfer)], moved, min(rig.cut_at, ended))
    windows = rig.media.windows.get(transfer.room, [])
    offs = [end for _, end in windows if end is not None and end >= start]
    free = max([start, *(end for end in offs if end <= ended)])
    waited = round(ended - free, 3)
    FIGURES.max_off_hold_to_outcome_s = max(FIGURES.max_off_hold_to_outcome_s, waited)
    rings = [
        target.ring_timeout or step.ring_timeout
        for step in rig.flows[id(transfer)].steps.values()
        if isinstance(step, DialStep)
        for target in (rig.flows[id(transfer)].targets[name] for name in step.target_names())
    ]
    bound = 90.0 + max(rings, default=0.0) + 20.0
    if waited > bound:
        return [f"INV-BOUND: outcome {waited:.1f} s after the caller was free (bound {bound})"]
    return []


def check_leaks(rig: Rig) -> list[str]:
    world, leaks = rig.sandbox.world, []
    leaks += [f"room {r}" for r in world.rooms if r not in rig.callers]
    merged = {  # the supervisor kept: the last attempt answered (in a group, the one kept)
        [a for a in t.outcome.result().attempts if a.result == "answered"][-1].identity
        for t in rig.transfers
        if t.outcome.done() and t.outcome.result().kind == "merged"
    }
    callers = set(rig.callers.values())
    leaks += [
        f"leg {who}"
        for _, who in rig.sandbox.legs.legs
        if who not in callers and who not in merged
    ]
    for engine in [rig.engine, *rig.others]:
        leaks += [f"active transfer in {room}" for room in engine.active]
        leaks += [f"pending start in {room}" for room in engine._starting]
    for room, identity in rig.callers.items():
        member = world.member(room, identity)
        checkpoint = {
            k: v for k, v in (member.info.attributes if member else {}).items() if "transfer." in k
        }
        # A merged call keeps `merged` while it goes on (caller and supervisor both there;
        # unwatched too, after the job ended: a replacement job would watch it again).
        talking = any(who in merged for where, who in rig.sandbox.legs.legs if where == room)
        if checkpoint and not (talking and checkpoint.get("transfer.state") == "merged"):
            leaks.append(f"checkpoint left on the caller of {room}")
    FIGURES.leaks_found += len(leaks)
    return [f"INV-LEAK: {', '.join(leaks)}"] if leaks else []


def check_releases(rig: Rig) -> list[str]:
    """INV-RELEASE: after a merge, when one side hangs up the other's phone gets BYE within
    2 s (when LiveKit answered; otherwise it is released all the same)."""
    problems = []
    for room, took in rig.releases:
        FIGURES.merged_calls_ended += 1
        if took is not None and took < 0:
            problems.append(f"INV-RELEASE: a phone of the merged call in {room} stayed on")
        elif took is not None:
            FIGURES.max_after_merge_release_s = max(FIGURES.max_after_merge_release_s, took)
            if took > 2.0:
                problems.append(f"INV-RELEASE: the other side released {took:.3f} s later")
    rig.releases.clear()  # counted once
    return problems


def check_outcomes(rig: Rig) -> list[str]:
    problems = []
    finished = [e for e in rig.tap.entries if e.get("event") == "transfer.finished"]
    for transfer in rig.transfers:
        if not transfer.outcome.done():
            problems.append("INV-OUTCOME: a transfer has no outcome")
            continue
        outcome = transfer.outcome.result()
        mine = [e for e in finished if e.get("transfer_id") == transfer.transfer_id]
        if len(mine) != 1:
            problems.append(f"INV-OUTCOME: {len(mine)} transfer.finished logs")
        if outcome.kind not in KINDS or (
            outcome.kind in ("returned", "failed", "hung_up") and not outcome.reason
        ):
            problems.append(f"INV-OUTCOME: untyped outcome {outcome.kind}/{outcome.reason}")
    # A start that wrote its claim and raised logs its one outcome too (`failed`).
    ours = {t.transfer_id for t in rig.transfers}
    starts = [e for e in finished if e.get("transfer_id") not in ours]
    if len({e.get("transfer_id") for e in starts}) != len(starts):
        problems.append("INV-OUTCOME: a failed start logged transfer.finished twice")
    if any(e.get("outcome") != "failed" or not e.get("reason") for e in starts):
        problems.append("INV-OUTCOME: a failed start logged an untyped outcome")
    if len(finished) - len(starts) != len(rig.transfers):
        problems.append(f"INV-OUTCOME: {len(finished)} finished for {len(rig.transfers)}")
    return problems


def check_logs(rig: Rig) -> list[str]:
    created = [
        request["request"].get(name)
        for request in rig.sandbox.requests
        if request["request"]
        for name in CREATED.get(request["rpc"], ())
    ]
    created += sorted(rig.monitor.names)
    outcomes = [repr(t.outcome.result()) for t in rig.transfers if t.outcome.done()]
    texts = [*(str(e) for e in rig.errors), *(repr(e) for e in rig.errors), *outcomes]
    hits = canary_hits([rig.tap.entries, rig.tap.records, texts, created])
    digits = [text for text in strings(created) if DIGIT_RUN.search(text)]
    raw = [text for text in strings(rig.tap.entries) if UNSAFE_CHARS.search(text)]
    FIGURES.pii_leaks += len(hits) + len(digits)
    problems = []
    if hits or digits:
        problems.append(f"INV-LOG: {len(hits)} canary hits, {len(digits)} numbers in names")
    if raw:
        problems.append(f"INV-LOG: {len(raw)} log values with raw control characters")
    return problems
