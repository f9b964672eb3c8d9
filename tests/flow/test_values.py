"""Validated values: anything that can reach an API call or a SIP header."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from orchestrator.flow.values import DisplayName, Dtmf, HeaderMap, PhoneNumber, SipUri, Template
from tests.conftest import BASE, problems_of


def rejects(kind: object, value: object) -> str:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(value)
    message = str(caught.value.errors()[0]["msg"])
    if isinstance(value, str) and len(value) > 3:
        assert value not in message, "the raw value must never be echoed"
    return message


class TestPhoneNumber:
    @pytest.mark.parametrize("good", ["+14155552671", "+442071838750", "+6834002"])
    def test_accepts_e164(self, good: str) -> None:
        assert TypeAdapter(PhoneNumber).validate_python(good) == good

    @pytest.mark.parametrize(
        "bad",
        [
            "+1510555O123",
            "+15105550123\r\nX-Evil: 1",
            "+\uff11\uff15\uff11\uff10\uff15\uff15\uff15\uff10\uff11\uff12\uff13",
            "\u202e+15105550123",
            "+1510555\u200b0123",
            "+1 510 555 0123",
            "15105550123",
            "+05105550123",
            "+1510555012345678",
            "+15105550123 ext. 99",
            "tel:+15105550123",
            "sip:sup@pbx.example.com",
            "anonymous",
            "",
        ],
    )
    def test_rejects_anything_else(self, bad: str) -> None:
        assert "E.164" in rejects(PhoneNumber, bad)

    def test_unquoted_number_gets_its_own_hint(self) -> None:
        assert "quoted" in rejects(PhoneNumber, 15105550123)


class TestSipUri:
    @pytest.mark.parametrize(
        "good",
        ["tel:+14155552671", "sip:desk@pbx.example.com", "sips:10.0.0.1:5061;transport=tls"],
    )
    def test_accepts(self, good: str) -> None:
        assert TypeAdapter(SipUri).validate_python(good) == good

    @pytest.mark.parametrize(
        "bad",
        [
            "+14155550000",
            "tel:4155552671",
            "sip:desk@pbx.example.com\r\nVia: x",
            "<sip:desk@pbx.example.com>",
            "sip:desk@pbx example.com",
            "http://example.com",
            "sip:" + "a" * 300,
        ],
    )
    def test_rejects(self, bad: str) -> None:
        assert "URI" in rejects(SipUri, bad)


@pytest.mark.parametrize("bad", ["12;#x", "1" * 65, "", "\uff11"])
def test_dtmf_rejects(bad: str) -> None:
    assert "DTMF" in rejects(Dtmf, bad)


@pytest.mark.parametrize("bad", ["A" * 129, 'say "hi"', "back\\slash", "a\r\nb", "x\u202ey"])
def test_display_name_rejects(bad: str) -> None:
    assert "display_name" in rejects(DisplayName, bad)


class TestHeaders:
    def test_accepts_extension_and_diversion(self) -> None:
        headers = {"X-Queue": "billing", "Diversion": "<sip:+18005550100@pbx>;reason=unknown"}
        assert TypeAdapter(HeaderMap).validate_python(headers) == headers

    @pytest.mark.parametrize(
        "bad",
        [
            {"From": "<sip:x@y>"},
            {"Via": "SIP/2.0/UDP x"},
            {"Call-ID": "1"},
            {"X-A:B": "1"},
            {"X-Note": "a\r\nVia: evil"},
            {"X-Note": "caf\u00e9"},
            {"X-Note": "x" * 1025},
            {"X-A": "1", "x-a": "2"},
            {f"X-{i}": "1" for i in range(17)},
        ],
    )
    def test_rejects(self, bad: dict[str, str]) -> None:
        assert "header" in rejects(HeaderMap, bad)


class TestTemplate:
    def test_accepts_known_placeholders_and_escaped_braces(self) -> None:
        text = "From {caller_number}: {summary} ({reason}, for {target}) {{literal}}"
        assert TypeAdapter(Template).validate_python(text) == text

    @pytest.mark.parametrize(
        "bad", ["{caller}", "{caller_number.__class__}", "{summary[0]}", "{summary!r}", "{", "}"]
    )
    def test_rejects(self, bad: str) -> None:
        rejects(Template, bad)


# Found in the first review (was tests/test_review_regressions.py).
@pytest.mark.parametrize(
    "display_name", ['"Boss\\nVia: evil"', '"Boss\\tx"', '"a\\u2028b"'], ids=["lf", "tab", "ls"]
)
def test_display_name_refuses_line_breaks_and_tabs(display_name: str) -> None:
    text = BASE.replace(
        'sup: {number: "+15105550100"}',
        f'sup: {{number: "+15105550100", display_name: {display_name}}}',
    )
    assert any("display_name may not contain" in p for p in problems_of(text))


# Found in the first review (was tests/test_review_regressions.py).
def test_version_true_is_not_one() -> None:
    assert problems_of(BASE.replace("name: base", "version: true\nname: base")) == [
        "1:10: version: must be a number, not true or false"
    ]
