"""Twirp errors as the LiveKit server writes them.

An error is a non-200 answer with a JSON body `{"code", "msg", "meta"}` and the content type
exactly `application/json`: the Python client reads any other content type as code `unknown`.
Errors that come from the server's internal RPC layer carry the literal message prefix
`twirp error unknown: ` in real deployments, so the sandbox reproduces it where LiveKit does.
"""

from __future__ import annotations

__all__ = ["HTTP_STATUS", "PSRPC_PREFIX", "TwirpError", "sip_error"]

HTTP_STATUS = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

PSRPC_PREFIX = "twirp error unknown: "

# SIP final responses to Twirp codes, as LiveKit's SIP bridge maps them.
_SIP_CODES = {
    400: "invalid_argument",
    403: "permission_denied",
    404: "not_found",
    408: "deadline_exceeded",
    480: "resource_exhausted",
    486: "resource_exhausted",
    487: "aborted",
    488: "invalid_argument",
    500: "failed_precondition",
    503: "failed_precondition",
    600: "resource_exhausted",
    603: "permission_denied",
}
_SIP_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
}


class TwirpError(Exception):
    """An error answer: a Twirp code, a message and string metadata."""

    def __init__(self, code: str, msg: str, meta: dict[str, str] | None = None) -> None:
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown Twirp code {code!r}")
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.meta = meta or {}

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "msg": self.msg}
        if self.meta:
            body["meta"] = self.meta
        return body


def sip_error(status: int, *, transfer: bool = False) -> TwirpError:
    """The error a failed INVITE (or REFER) with this SIP final status produces."""
    reason = _SIP_REASONS.get(status, "")
    code = _SIP_CODES.get(status, "invalid_argument" if status < 500 else "failed_precondition")
    what = "call transfer failed" if transfer else "INVITE failed"
    meta = {"sip_status_code": str(status), "sip_status": reason}
    return TwirpError(code, f"{PSRPC_PREFIX}{what}: sip status: {status}: {reason}", meta)
