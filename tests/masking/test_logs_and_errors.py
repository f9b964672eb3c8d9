"""Issue 20, class 2: phone numbers in forms the masker did not know reached log lines and
error messages raw. Every test here failed before `orchestrator.masking`; they use only what
existed then (`mask`, the processor, `configure_logging`, the errors)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from orchestrator import TransferError, configure_logging
from orchestrator.errors import LiveKitError
from orchestrator.logs import mask

NUMBER = "4155552671"  # the digits every case below writes in its own way


@pytest.fixture(autouse=True)
def _default_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def digits_of(text: str) -> str:
    return re.sub(r"\D", "", text)


def shows_the_number(value: Any) -> bool:
    """The number's digits, in order, in any string of `value`, whatever separates them."""
    if isinstance(value, dict):
        return any(shows_the_number(k) or shows_the_number(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(shows_the_number(v) for v in value)
    return isinstance(value, str) and NUMBER in digits_of(value)


FORMS_OF_THE_ISSUE = [
    pytest.param("415-555-2671", "41***71", id="dashes"),
    pytest.param("415.555.2671", "41***71", id="dots"),
    pytest.param("415 555 2671", "41***71", id="spaces"),
    pytest.param("1-415-555-2671", "1415***2671", id="country-code-dashes"),
    pytest.param("+1/415/555/2671", "+1415***2671", id="slashes"),
    pytest.param("415\u00a0555\u00a02671", "41***71", id="no-break-spaces"),
    pytest.param("+1\u00a0415\u00a0555\u00a02671", "+1415***2671", id="e164-no-break-spaces"),
    pytest.param("415\u2011555\u20112671", "41***71", id="non-breaking-hyphens"),
    pytest.param("415\u2010555\u20102671", "41***71", id="hyphens-u2010"),
    pytest.param("415\u2012555\u20122671", "41***71", id="figure-dashes"),
    pytest.param("415\u2013555\u20132671", "41***71", id="en-dashes"),
    pytest.param("415\u2009555\u20092671", "41***71", id="thin-spaces"),
    pytest.param("415\u200b555\u200b2671", "41***71", id="zero-width-spaces"),
    pytest.param("sip:415-555-2671@pbx.example.com", "sip:41***71@pbx.example.com", id="sip-uri"),
    pytest.param("tel:415.555.2671", "tel:41***71", id="tel-uri"),
    pytest.param("sip:%2B1%20415%20555%202671@pbx", "sip:+1415***2671@pbx", id="encoded"),
    pytest.param("call_415_555_2671", "call_41***71", id="identifier-underscores"),
    pytest.param("call-1-415-555-2671-Xb3kQ", "call-1415***2671-Xb3kQ", id="room-dashes"),
]


@pytest.mark.parametrize(("text", "masked"), FORMS_OF_THE_ISSUE)
def test_a_number_in_a_form_of_the_issue_is_masked_in_a_log_value(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_a_log_line_shows_no_digit_run_of_the_number_anywhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Event field, nested dict (key and value), exception message, room name: the JSON line
    an application configured with `configure_logging` prints."""
    configure_logging(json=True)
    log = structlog.get_logger("app")
    try:
        raise RuntimeError("dial to 1-415-555-2671 refused")
    except RuntimeError:
        log.exception(
            "caller 415.555.2671 on hold",
            caller="415\u00a0555\u00a02671",
            room="call_+1_415_555_2671_Xb3kQ",
            legs={"sip:415-555-2671@pbx": {"to": "(415)\u2011555\u20112671"}},
            numbers=["415 555 2671", ("+1/415/555/2671",)],
        )
    line = json.loads(capsys.readouterr().out)
    assert "RuntimeError: dial to 1415***2671 refused" in line["exception"]
    assert line["event"] == "caller 41***71 on hold"
    assert line["room"] == "call_+1415***2671_Xb3kQ"
    assert line["legs"] == {"sip:41***71@pbx": {"to": "41***71"}}
    assert not shows_the_number(line), line


def test_the_configured_processors_mask_every_value_of_an_event() -> None:
    """structlog's `capture_logs` with the processors `configure_logging` sets up."""
    configure_logging(json=True)
    processors = structlog.get_config()["processors"][:-1]  # all but the renderer
    with capture_logs(processors=processors) as events:
        structlog.get_logger("app").warning(
            "transfer.refused",
            room="room 415 555 2671",
            error=ValueError("no route to 415-555-2671"),
            detail={"reason": "Number 415.555.2671 not owned", "codes": [403, 19.9]},
        )
    (event,) = events
    assert event["room"] == "room 41***71"
    assert event["error"] == "ValueError('no route to 41***71')"
    assert event["detail"] == {"reason": "Number 41***71 not owned", "codes": [403, 19.9]}
    assert not shows_the_number(event)


def test_an_error_quoting_a_number_never_shows_it() -> None:
    error = TransferError("no SIP caller 1-415-555-2671 in room call_415_555_2671", reason="x")
    assert str(error) == "no SIP caller 1415***2671 in room call_41***71"
    assert not shows_the_number([str(error), repr(error), error.args])


def test_a_livekit_error_masks_its_message_and_the_carriers_reason() -> None:
    error = LiveKitError(
        "twirp error permission_denied: From 415.555.2671 not allowed",
        code="permission_denied",
        status=403,
        sip_status=403,
        sip_reason="Caller ID 415 555 2671 not owned (D35)",
    )
    assert str(error) == "twirp error permission_denied: From 41***71 not allowed"
    assert error.sip_reason == "Caller ID 41***71 not owned (D35)"


def test_the_json_renderer_writes_what_json_dumps_writes() -> None:
    """`configure_logging(json=True)` renders through one reused encoder: the same text."""
    configure_logging(json=True)
    renderer = structlog.get_config()["processors"][-1]
    event = {
        "event": "dial.result",
        "seconds": 1.5,
        "nothing": None,
        "nested": {"codes": [403, float("nan")], "ok": True},
        "text": 'é\u2028"quoted"',
        "error": ValueError("x"),  # not JSON: structlog's fallback, its repr
    }
    expected = json.dumps(event, default=repr)
    assert renderer(None, "info", dict(event)) == expected
    assert renderer(None, "info", dict(event)) == expected  # and again, the encoder reused
