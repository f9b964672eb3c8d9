"""Catalogue B6/B8/H at runtime: hostile values that arrive while a call is live.

The caller's `sip.phoneNumber` is whatever the carrier put in the INVITE's From: spoofed,
withheld, malformed or an injection attempt. It must never be presented as the caller ID
(`sip_number`), spoken in the brief, written raw to a log or carried by any API request
other than the caller's own identity (LiveKit's handle for them, which the engine must use to
address the caller). DTMF digits, the summary and the reason are checked the same way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.reliability.cases import fullwidth, phones
from tests.reliability.figures import FIGURES
from tests.reliability.harness import BUSINESS, CALLER, UNSAFE_CHARS, strings, warm
from tests.reliability.rig import Rig

CALLER_NUMBERS = {
    "crlf-injection": f"{CALLER}\r\nX-Evil: 1",
    "trailing-newline": f"{CALLER}\n",
    "letter-l": "+1415555267l",
    "fullwidth": fullwidth(CALLER),
    "arabic-indic-digit": "+141555526\u0661\u0661",
    "zero-width": "+1415\u200b5552671",
    "rtl-override": "+1415\u202e5552671",
    "nul-byte": f"{CALLER}\x00",
    "anonymous": "anonymous",
    "Anonymous": "Anonymous",
    "ANONYMOUS": "ANONYMOUS",
    "restricted": "restricted",
    "private": "Private",
    "unknown": "unknown",
    "empty": "",
    "over-long-digits": "+1" + "4" * 30,
    "over-long-garbage": "x" * 5000,
    "national": CALLER[2:],
    "leading-zero": "+04155552671",
    "sip-uri": f"sip:{CALLER}@evil.example",
    "tel-uri": f"tel:{CALLER}",
    "extension": f"{CALLER};ext=99",
    "spaces": "+1 415 555 2671",
    "markup": f"{CALLER}<script>",
}


def _unsafe_in_logs(rig: Rig, raw: str) -> list[str]:
    """Log values with raw control characters, or the raw value itself, or a flood."""
    found = [s for s in strings(rig.tap.entries) if UNSAFE_CHARS.search(s) or len(s) > 1000]
    if raw and (UNSAFE_CHARS.search(raw) or len(raw) > 64 or any(c.isdigit() for c in raw)):
        found += [s for s in strings(rig.tap.entries) if raw in s]
    return found


def _carried(rig: Rig, raw: str, exempt: set[str]) -> list[str]:
    """Request fields carrying the raw value (the caller's own identity handle is exempt)."""
    if not raw:
        return []
    return [
        f"{r['rpc']}: {key}"
        for r in rig.sandbox.requests
        if r["request"]
        for key, value in r["request"].items()
        if raw in json.dumps(value, ensure_ascii=False) and value not in exempt
    ]


@pytest.mark.parametrize("case", sorted(CALLER_NUMBERS))
async def test_hostile_caller_number_is_never_presented(case: str) -> None:
    """B6/B8/H1/H3/H4: withheld or malformed caller IDs: the business number is presented,
    the brief says "a withheld number", nothing carries or logs the raw value."""
    raw = CALLER_NUMBERS[case]
    async with Rig(phones({"answer": 1.0}), caller_number=raw, fault=None) as rig:
        outcome = await rig.run(warm(), summary="A billing question.")
        dials = rig.dials()
        presented = [d.get("sip_number") for d in dials]
        carried = _carried(rig, raw, exempt=set(rig.callers.values()))
        logged = _unsafe_in_logs(rig, raw)
        briefs = [c.text for c in rig.media.calls if c.action == "brief"]
        spoken = [t for t in briefs if raw and raw in t]
        unsafe = bool(carried or logged or spoken or raw in presented)
        FIGURES.bad_input(rejected=presented == [BUSINESS] and not unsafe, unsafe=unsafe)
        assert outcome.kind == "merged"
        assert presented == [BUSINESS], presented
        assert carried == []
        assert logged == []
        assert spoken == []
        assert all("a withheld number" in t for t in briefs)


DIGITS = {
    "two-keys": "11",
    "fullwidth": fullwidth("1"),
    "crlf": "1\r\n",
    "empty": "",
    "nul": "\x00",
    "letter": "A",
    "sql-ish": "1; DROP",
    "pause": "w",
}


@pytest.mark.parametrize("case", sorted(DIGITS))
async def test_hostile_dtmf_is_not_a_decision(case: str) -> None:
    """H8 at runtime: a DTMF event that is not exactly one accept/decline key decides
    nothing; it reaches no request and no log raw."""
    raw = DIGITS[case]
    async with Rig(phones({"answer": 1.0, "on_brief": "silent"}), fault=None) as rig:
        rig.on_state("brief_supervisor", lambda: rig.press(raw))
        outcome = await rig.run(warm())
        carried = _carried(rig, raw, exempt=set()) if len(raw) > 1 else []
        logged = _unsafe_in_logs(rig, raw)
        decided = outcome.reason != "timeout"
        FIGURES.bad_input(rejected=not decided, unsafe=bool(carried or logged))
        assert (outcome.kind, outcome.reason) == ("returned", "timeout")
        assert carried == []
        assert logged == []


TEXTS: dict[str, dict[str, Any]] = {
    "summary-crlf": {"summary": "refund\r\nX-Evil: 1"},
    "summary-with-secrets": {"summary": f"call {CALLER}, token eyJhbGciOiJIUzI1NiJ9.e30.sig"},
    "summary-100k-chars": {"summary": "refund " * 15_000},
    "summary-format-fields": {"summary": "{caller_number}{summary.__class__}"},
    "reason-bidi": {"reason": "billing\u202e dispute"},
}


@pytest.mark.parametrize("case", sorted(TEXTS))
async def test_hostile_summary_and_reason_reach_no_request_or_log(case: str) -> None:
    """The LLM's summary and reason go to speech only: never to a request or a log."""
    options = TEXTS[case]
    raw = next(iter(options.values()))
    async with Rig(phones({"answer": 1.0}), fault=None) as rig:
        await rig.start(warm(), **options)
        (outcome,) = await rig.finish()
        rig.verify()
        fragment = raw[:40]
        carried = [r["rpc"] for r in rig.sandbox.requests if fragment in json.dumps(r)]
        logged = [s for s in strings(rig.tap.entries) if fragment in s]
        FIGURES.bad_input(rejected=not (carried or logged), unsafe=bool(carried or logged))
        assert outcome.kind == "merged"
        assert carried == []
        assert logged == []
