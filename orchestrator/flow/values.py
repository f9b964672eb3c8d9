"""Validated scalar types of the flow language.

Every value that can reach a LiveKit API call or a SIP header is checked here, strictly and
before anything else sees it: phone numbers, SIP/TEL URIs, DTMF, display names, header maps,
trunk ids, step names and spoken text. Messages name the rule and the fix and never repeat the
offending value, which may be hostile (CR/LF injection, control characters).
"""

from __future__ import annotations

import keyword
import re
import string
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError
from statemachine import StateChart

__all__ = [
    "DisplayName",
    "Dtmf",
    "DtmfDigit",
    "FreeText",
    "HeaderMap",
    "Music",
    "Name",
    "PhoneNumber",
    "SipUri",
    "Template",
    "TrunkId",
    "ensure_plain_name",
    "not_boolean",
]

# E.164: a +, a country code that does not start with 0, 7 to 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SIP_URI = re.compile(
    r"sips?:(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/%]{1,64}@)?"  # optional user part
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
    r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])"  # host name, IPv4 or [IPv6]
    r"(?::[0-9]{1,5})?(?:;[A-Za-z0-9\-_.!~*'%]+(?:=[A-Za-z0-9\-_.!~*'%]+)?){0,8}"  # port, params
)
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_TRUNK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,1024}")
_MUSIC = re.compile(r"builtin|none|(?!/)(?!.*\.\./)[A-Za-z0-9_./-]{1,200}\.(?:wav|mp3|ogg|flac)")
_DTMF = re.compile(r"[0-9*#wW]{1,64}")
# Bidirectional overrides and zero-width characters hide what text really says.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# In spoken text a newline or tab is harmless; in anything bound for a SIP header it is not.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_HEADER_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Headers a flow may add to the INVITE: extension headers and the identity/diversion family.
# Everything LiveKit forbids (From, Contact, Call-ID, Via, ...) is outside this list.
ALLOWED_HEADERS = ("Diversion", "History-Info", "P-Asserted-Identity", "P-Preferred-Identity")

# Step names become state ids on a StateChart class, so they must not shadow its members,
# and node ids in Mermaid and DOT diagrams, so they must not be those languages' keywords.
_DIAGRAM_KEYWORDS = {"as", "class", "classdef", "click", "digraph", "direction", "edge", "end"}
_DIAGRAM_KEYWORDS |= {"graph", "linkstyle", "node", "note", "state", "strict", "style", "subgraph"}
RESERVED_NAMES = (
    frozenset(n for n in dir(StateChart) if not n.startswith("_"))
    | frozenset(keyword.kwlist)
    | frozenset(_DIAGRAM_KEYWORDS)
)

TEMPLATE_FIELDS = ("caller_number", "reason", "summary", "target")


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _error("text_type", f"{what} must be text (quote it)")
    return value


def _phone(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _error(
            "phone_unquoted",
            'phone numbers must be quoted strings, like "+14155552671" (unquoted, YAML reads '
            "a number and drops the +)",
        )
    if not isinstance(value, str) or not E164.fullmatch(value):
        raise _error(
            "phone_number",
            'must be an E.164 phone number like "+14155552671": a +, the country code, then '
            "the number, up to 15 digits, no spaces or other characters",
        )
    return value


def _sip_uri(value: Any) -> str:
    text = _text(value, "a transfer address")
    if text.startswith("tel:") and E164.fullmatch(text[4:]):
        return text
    if len(text) <= 256 and _SIP_URI.fullmatch(text):
        return text
    raise _error(
        "sip_uri",
        'must be a tel: or sip: URI like "tel:+14155552671" or "sip:desk@pbx.example.com" '
        "(no spaces, angle brackets or display names)",
    )


def _dtmf(value: Any) -> str:
    if not isinstance(value, str) or not _DTMF.fullmatch(value):
        raise _error(
            "dtmf",
            "DTMF must be quoted text of 1 to 64 characters from 0-9, *, # and w (a 0.5 s pause)",
        )
    return value


def _digit(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1 or value not in "0123456789*#":
        raise _error("dtmf_digit", 'must be one quoted DTMF key: "0"-"9", "*" or "#"')
    return value


def _display_name(value: Any) -> str:
    text = _text(value, "display_name")
    if not 1 <= len(text) <= 128:
        raise _error("display_name", "display_name must be 1 to 128 characters")
    if _HEADER_CONTROL.search(text) or _INVISIBLE.search(text) or '"' in text or "\\" in text:
        raise _error(
            "display_name",
            "display_name may not contain quotes, backslashes, control or invisible characters",
        )
    return text


def _trunk(value: Any) -> str:
    if not isinstance(value, str) or not _TRUNK.fullmatch(value):
        raise _error(
            "trunk_id", 'must be a LiveKit outbound trunk id like "ST_abc123" (letters, digits, _)'
        )
    return value


def not_boolean(value: Any) -> Any:
    """`true` equals 1 in Python; a flow's numbers must be written as numbers."""
    if isinstance(value, bool):
        raise _error("boolean_number", "must be a number, not true or false")
    return value


def ensure_plain_name(value: Any) -> str:
    """Step, target and flow names: lowercase snake_case, usable as state and file names."""
    if not isinstance(value, str) or len(value) > 64 or not _NAME.fullmatch(value):
        raise _error(
            "name",
            "names are lowercase snake_case: a letter, then letters, digits and single "
            "underscores, at most 64 characters (like dial_supervisor)",
        )
    return value


def _music(value: Any) -> str:
    if not isinstance(value, str) or not _MUSIC.fullmatch(value):
        raise _error(
            "music",
            "music is `builtin`, `none`, or a relative .wav/.mp3/.ogg/.flac path without spaces",
        )
    return value


def _free_text(value: Any) -> str:
    text = _text(value, "this value")
    if _CONTROL.search(text) or _INVISIBLE.search(text):
        raise _error("text", "text may not contain control or invisible characters")
    return text


def _template(value: str) -> str:
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError:
        raise _error(
            "template", "unbalanced { or } in the template; write {{ or }} for a literal brace"
        ) from None
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in TEMPLATE_FIELDS or spec or conversion:
            allowed = ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
            raise _error("template", f"templates may only use {allowed}")
    return value


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _error("headers", "headers must be a mapping of header name to quoted value")
    if len(value) > 16:
        raise _error("headers", "at most 16 headers may be added")
    seen: set[str] = set()
    for name, header_value in value.items():
        allowed = name in ALLOWED_HEADERS or name.lower().startswith("x-")
        if not _HEADER_NAME.fullmatch(name) or not allowed:
            raise _error(
                "header_name",
                "header names must be X-... extension headers or one of "
                + ", ".join(ALLOWED_HEADERS),
            )
        if name.lower() in seen:
            raise _error("header_name", "a header is set twice (names ignore case)")
        seen.add(name.lower())
        if not isinstance(header_value, str) or not _HEADER_VALUE.fullmatch(header_value):
            raise _error(
                "header_value",
                "header values must be quoted printable ASCII, 1 to 1024 characters, no CR/LF",
            )
    return dict(value)


PhoneNumber = Annotated[
    str,
    BeforeValidator(_phone),
    Field(examples=["+14155552671"], json_schema_extra={"pattern": f"^{E164.pattern}$"}),
]
SipUri = Annotated[
    str,
    BeforeValidator(_sip_uri),
    Field(examples=["tel:+14155552671", "sip:desk@pbx.example.com"], max_length=256),
]
Dtmf = Annotated[
    str,
    BeforeValidator(_dtmf),
    Field(json_schema_extra={"pattern": f"^{_DTMF.pattern}$"}, examples=["ww123#"]),
]
DtmfDigit = Annotated[
    str, BeforeValidator(_digit), Field(json_schema_extra={"pattern": r"^[0-9*#]$"})
]
DisplayName = Annotated[str, BeforeValidator(_display_name), Field(max_length=128)]
TrunkId = Annotated[
    str, BeforeValidator(_trunk), Field(json_schema_extra={"pattern": f"^{_TRUNK.pattern}$"})
]
Name = Annotated[
    str,
    BeforeValidator(ensure_plain_name),
    Field(json_schema_extra={"pattern": f"^{_NAME.pattern}$"}, max_length=64),
]
FreeText = Annotated[str, BeforeValidator(_free_text), Field(min_length=1, max_length=2000)]
Template = Annotated[
    str,
    BeforeValidator(_free_text),
    AfterValidator(_template),
    Field(min_length=1, max_length=2000),
]
Music = Annotated[
    str, BeforeValidator(_music), Field(json_schema_extra={"pattern": f"^{_MUSIC.pattern}$"})
]
HeaderMap = Annotated[dict[str, str], BeforeValidator(_headers)]
