"""Catalogue H and I in flows: hostile values and hostile YAML, refused at load.

Each input is put into the shipped warm-transfer flow (or is a whole document) and loaded.
It must be refused with a `FlowError` whose problem names the field path (or, for a document
that is not a flow at all, its line and column) and never repeats the hostile value. A flow
that loads anyway is run against the sandbox: if the value reaches an API request, it counts
as accepted unsafely.

I11 (passthrough without an acknowledgement flag) is this design's `caller_id.mode:
preserve`: the default is the business number and preserving is the explicit opt-in; there is
no separate flag to omit.
"""

from __future__ import annotations

import json

import pytest

from orchestrator import FlowError, load_flow
from tests.reliability.cases import fullwidth
from tests.reliability.figures import FIGURES
from tests.reliability.harness import ROOT, UNSAFE_CHARS, strings
from tests.reliability.rig import Rig

BASE = (ROOT / "flows" / "warm_transfer.yaml").read_text()
NUMBER = 'number: "+15105550100"'
NAME = "display_name: Transfer from AI desk"
TARGET = "targets.on_call_supervisor"

# id: (text to replace, replacement, field path the message names, hostile fragments)
FIELD_CASES: dict[str, tuple[str, str, str, list[str]]] = {
    # H1/H3/H4/H5/H6/H7: numbers
    "number-crlf-header": (NUMBER, r'number: "+15105550100\r\nX-Evil: 1"', "number", ["X-Evil"]),
    "number-lf-via": (NUMBER, r'number: "+15105550100\nVia: evil"', "number", ["Via: evil"]),
    "number-letter-O": (NUMBER, 'number: "+1510555O100"', "number", ["+1510555O100"]),
    "number-fullwidth": (
        NUMBER,
        f'number: "{fullwidth("+15105550100")}"',
        "number",
        [fullwidth("1510")],
    ),
    "number-zero-width": (NUMBER, r'number: "+1510\u200b5550100"', "number", ["\u200b"]),
    "number-rtl-override": (NUMBER, r'number: "+1510\u202e5550100"', "number", ["\u202e"]),
    "number-extension": (NUMBER, 'number: "+15105550100 ext. 99"', "number", ["ext. 99"]),
    "number-16-digits": (NUMBER, 'number: "+1510555010012345"', "number", ["10012345"]),
    "number-leading-zero": (NUMBER, 'number: "+05105550100"', "number", ["+0510"]),
    "number-no-plus": (NUMBER, 'number: "15105550100"', "number", ["15105550100"]),
    "number-national": (NUMBER, 'number: "(510) 555-0100"', "number", ["(510)"]),
    "number-sip-uri": (NUMBER, 'number: "sip:boss@evil.example"', "number", ["evil.example"]),
    "number-at-sign": (NUMBER, 'number: "boss@evil.example"', "number", ["evil.example"]),
    "number-tel-uri": (NUMBER, 'number: "tel:+15105550100"', "number", ["tel:+1"]),
    "number-too-short": (NUMBER, 'number: "+1510"', "number", []),
    "number-unquoted": (NUMBER, "number: +15105550100", "quoted", []),
    "business-number-crlf": (
        'business_number: "+18005550100"',
        r'business_number: "+18005550100\r\nP-Asserted-Identity: <sip:evil>"',
        "caller_id.business_number",
        ["P-Asserted-Identity: <sip:evil>"],
    ),
    "business-number-anonymous": (
        'business_number: "+18005550100"',
        'business_number: "anonymous"',
        "caller_id.business_number",
        ["anonymous"],
    ),
    # H2: headers
    **{
        f"header-name-{name.lower()}": (
            NAME,
            f'{NAME}\n    headers: {{{name}: "<sip:evil@evil.example>"}}',
            f"{TARGET}.headers",
            ["evil.example"],
        )
        for name in ("From", "Via", "Contact", "Call-ID", "To", "CSeq")
    },
    "header-name-colon": (
        NAME,
        f'{NAME}\n    headers: {{"X-Evil:": "1"}}',
        "headers",
        ["X-Evil:"],
    ),
    "header-name-space": (NAME, f'{NAME}\n    headers: {{"X Evil": "1"}}', "headers", ["X Evil"]),
    "header-value-crlf": (
        NAME,
        f'{NAME}\n    headers: {{X-Ok: "a\\r\\nVia: evil"}}',
        "headers",
        ["Via: evil"],
    ),
    "header-value-non-ascii": (
        NAME,
        f'{NAME}\n    headers: {{X-Ok: "café"}}',
        "headers",
        ["café"],
    ),
    "header-value-1025-bytes": (
        NAME,
        f'{NAME}\n    headers: {{X-Ok: "{"a" * 1025}"}}',
        "headers",
        ["a" * 1025],
    ),
    "header-17-headers": (
        NAME,
        NAME + "\n    headers: {" + ", ".join(f'X-H{i}: "v"' for i in range(17)) + "}",
        "headers",
        [],
    ),
    # H8: DTMF
    "dtmf-semicolon": (NAME, f'{NAME}\n    dtmf: "12;#x"', f"{TARGET}.dtmf", ["12;#x"]),
    "dtmf-10000-chars": (
        NAME,
        f'{NAME}\n    dtmf: "{"1" * 10_000}"',
        f"{TARGET}.dtmf",
        ["1" * 65],
    ),
    "dtmf-fullwidth": (
        NAME,
        f'{NAME}\n    dtmf: "{fullwidth("12")}"',
        f"{TARGET}.dtmf",
        [fullwidth("12")],
    ),
    "dtmf-crlf": (NAME, f'{NAME}\n    dtmf: "12\\r\\n"', f"{TARGET}.dtmf", []),
    "dtmf-empty": (NAME, f'{NAME}\n    dtmf: ""', f"{TARGET}.dtmf", []),
    "accept-digit-two-keys": (
        'accept_digit: "1"',
        'accept_digit: "11"',
        "steps.brief_supervisor.accept_digit",
        [],
    ),
    "accept-digit-letter": ('accept_digit: "1"', 'accept_digit: "a"', "accept_digit", []),
    # H9: display names
    "display-name-129-chars": (NAME, f"display_name: {'A' * 129}", "display_name", ["A" * 129]),
    "display-name-unbalanced-quote": (NAME, r'display_name: "Boss \"x"', "display_name", []),
    "display-name-crlf": (NAME, r'display_name: "Boss\r\nFrom: evil"', "display_name", ["evil"]),
    "display-name-zero-width": (NAME, r'display_name: "Bo\u200bss"', "display_name", ["\u200b"]),
    "display-name-backslash": (NAME, r'display_name: "Boss\\x"', "display_name", []),
    # Other strings bound for LiveKit or speech.
    "trunk-crlf": ("max_hold: 120", 'max_hold: 120\ntrunk: "ST_x\\r\\nX: 1"', "trunk", ["X: 1"]),
    "music-path-traversal": (
        "music: builtin",
        "music: ../../etc/passwd.wav",
        "steps.hold_caller.music",
        ["passwd"],
    ),
    "say-bidi-override": (
        "say: Please hold for a moment while I connect you with a supervisor.",
        r'say: "Please \u202ehold"',
        "steps.hold_caller.say",
        ["\u202e"],
    ),
    "say-template-attribute": (
        "{summary}",
        "{caller_number.__class__}",
        "steps.brief_supervisor.say",
        ["__class__"],
    ),
    "flow-name-crlf": ("name: warm_transfer", r'name: "warm\r\nX: 1"', "name", ["X: 1"]),
    # I2/I9: types and bounds
    "ring-timeout-octal": ("ring_timeout: 25", "ring_timeout: 0123", "ring_timeout", []),
    "max-hold-sexagesimal": ("max_hold: 120", "max_hold: 12:30:00", "max_hold", []),
    "max-hold-underscores": ("max_hold: 120", "max_hold: 1_000", "max_hold", []),
    "max-hold-boolean": ("max_hold: 120", "max_hold: NO", "max_hold", []),
    "ring-timeout-negative": ("ring_timeout: 25", "ring_timeout: -5", "ring_timeout", []),
    "ring-timeout-zero": ("ring_timeout: 25", "ring_timeout: 0", "ring_timeout", []),
    "ring-timeout-huge": ("ring_timeout: 25", "ring_timeout: 1e9", "ring_timeout", []),
    "retries-1e9": (
        "    next: dial_supervisor\n",
        "    next: dial_supervisor\n    max_visits: 1e9\n",
        "max_visits",
        [],
    ),
    # I7/I8: keys and graph
    "typo-key": ("ring_timeout: 25", "ringing_timout: 25", "did you mean", []),
    "undefined-step": ("next: merge_call", "next: merge_cal", "merge_cal", []),
    "unreachable-step": (
        "  agent_leaves:",
        "  orphan:\n    type: hangup\n\n  agent_leaves:",
        "orphan",
        [],
    ),
}

DOCUMENTS: dict[str, bytes] = {
    # I3/I4/I5/I6/I10: documents that are hostile as YAML.
    "alias-bomb": (
        b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + b"".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n".encode()
            for i in range(8)
        )
    ),
    "python-tag": b'!!python/object/apply:os.system ["echo pwned"]\n',
    "python-tag-in-value": BASE.replace(
        "name: warm_transfer", 'name: !!python/name:os.system ""'
    ).encode(),
    "duplicate-key": BASE.replace("max_hold: 120", "max_hold: 120\nmax_hold: 3600").encode(),
    "ten-megabytes": BASE.encode() + b"# " + b"x" * (10 * 1024 * 1024) + b"\n",
    "deep-nesting": b"name: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
    "not-utf8": BASE.encode().replace(b"Warm transfer", b"Warm \xff\xfe transfer"),
    "byte-order-mark": b"\xef\xbb\xbf" + BASE.encode(),
    "tab-indentation": BASE.replace("  hold_caller:\n    type", "  hold_caller:\n\ttype").encode(),
    "two-documents": BASE.encode() + b"\n---\nname: other\n",
    "no-terminal-step": b"name: x\nsteps:\n  a: {type: announce, say: hi, next: a}\n",
    "unbudgeted-loop": (
        b"name: x\nfallback: out\nsteps:\n  a: {type: announce, say: hi, next: b}\n"
        b"  b: {type: announce, say: ho, next: a}\n  out: {type: hangup}\n"
    ),
    "empty": b"",
    "a-list": b"- name: x\n",
}


def _refused(raw: bytes | str, field: str | None, fragments: list[str]) -> None:
    """Load; count; then assert refused, named and not echoed."""
    error: FlowError | None = None
    try:
        load_flow(raw)
    except FlowError as refused:
        error = refused
    if error is None:
        FIGURES.bad_input(rejected=False, unsafe=True)
        raise AssertionError("a hostile flow was accepted")
    messages = [p.message for p in error.problems] + [str(error)]
    named = field is None or any(field in m for m in messages)
    positioned = bool(error.problems) and all(p.line >= 1 <= p.column for p in error.problems)
    echoed = [f for f in fragments if any(f in m for m in messages)]
    raw_chars = [m for m in strings(messages) if UNSAFE_CHARS.search(m)]
    FIGURES.bad_input(rejected=named and positioned, unsafe=bool(echoed or raw_chars))
    assert named, f"no message names {field!r}: {messages}"
    assert positioned
    assert echoed == [], "the message repeats the hostile value"
    assert raw_chars == [], "the message carries raw control characters"


@pytest.mark.parametrize("case", sorted(FIELD_CASES))
def test_hostile_value_in_a_flow_is_refused(case: str) -> None:
    old, new, field, fragments = FIELD_CASES[case]
    assert old in BASE, old
    _refused(BASE.replace(old, new, 1), field, fragments)


@pytest.mark.parametrize("case", sorted(DOCUMENTS))
def test_hostile_document_is_refused(case: str) -> None:
    _refused(DOCUMENTS[case], None, ["pwned", "\xff", "lol"])


def test_the_corpus_is_big_enough() -> None:
    assert len(FIELD_CASES) + len(DOCUMENTS) >= 30


async def test_a_valid_but_odd_flow_value_reaches_no_request_raw() -> None:
    """The boundary: a legal, unusual header value goes out as written, and only there."""
    odd = "<sip:+18005550100@pbx.example>;reason=unconditional"
    text = BASE.replace(NAME, f'{NAME}\n    headers: {{Diversion: "{odd}"}}')
    async with Rig(fault=None) as rig:
        await rig.run(load_flow(text))
        (dial,) = rig.dials()
        assert dial["headers"] == {"Diversion": odd}
        others = [r for r in rig.sandbox.requests if r["rpc"] != "SIP.CreateSIPParticipant"]
        assert odd not in json.dumps(others)
