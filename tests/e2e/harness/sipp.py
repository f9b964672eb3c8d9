"""sipp processes and what they saw: scenario text, the process, and its message trace.

Every sipp runs on 127.0.0.1 only (`-i -mi -bind_local -ci`), with `-trace_msg`, so the SIP
messages it received can be read back and asserted on. A call waiting in a `talk` section
hangs up when asked: `hang_up()` sends it a NOTIFY (any request in its dialog reaches it by
Call-ID), which the scenario answers and then ends the call with a BYE.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from stack.run import DIE_WITH_PARENT

__all__ = ["Message", "Sipp", "messages", "response", "talk_section"]

_SEPARATOR = re.compile(
    r"^-{20,} (?P<at>\S+ \S+)\n(UDP|TCP) message (?P<way>received|sent) .*?\n\n", re.M
)


@dataclass(frozen=True)
class Message:
    """One SIP message a phone received or sent."""

    received: bool
    start: str
    headers: dict[str, str] = field(hash=False)
    body: str = ""
    at: float = 0.0
    """When sipp received or sent it (Unix time, as its trace stamps it)."""

    @property
    def method(self) -> str:
        """The request method, or the response's status code as text ("200")."""
        first = self.start.split()
        return first[1] if first[0] == "SIP/2.0" else first[0]

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0")

    @property
    def call_id(self) -> str:
        return self.headers.get("call-id", "")

    @property
    def to_user(self) -> str:
        """The user part of a request's URI (the number a phone was called on)."""
        found = re.match(r"\S+ sips?:([^@;>]+)@", self.start)
        return found[1] if found else ""

    @property
    def from_user(self) -> str:
        found = re.search(r"<sips?:([^@>;]+)@", self.headers.get("from", ""))
        return found[1] if found else ""


def _parse(block: str, received: bool, at: float) -> Message | None:
    head, _, body = block.strip("\n").partition("\n\n")
    lines = head.splitlines()
    if not lines:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Message(received, lines[0].strip(), headers, body.strip(), at)


def messages(trace: Path) -> list[Message]:
    """Every message of a `-message_file` trace, in order."""
    try:
        text = trace.read_text(errors="replace")
    except FileNotFoundError:
        return []
    found: list[Message] = []
    marks = list(_SEPARATOR.finditer(text))
    ends = [mark.start() for mark in marks[1:]] + [len(text)] * bool(marks)
    for mark, end in zip(marks, ends, strict=True):
        block = text[mark.end() : end]
        stamp = datetime.strptime(mark["at"], "%Y-%m-%d %H:%M:%S.%f").astimezone()
        message = _parse(block, mark["way"] == "received", stamp.timestamp())
        if message is not None:
            found.append(message)
    return found


def response(status: str, *, tag: bool = False, cseq: str = "[last_CSeq:]", sdp: str = "") -> str:
    """A sipp `<send>` answering the last request received: `tag` adds our To tag (a UAS's
    first answers to the INVITE), `cseq` replaces the CSeq line (a 487 answers the INVITE,
    not the CANCEL just received), `sdp` makes it a 2xx with a body and a Contact (resent
    until ACKed)."""
    to_tag = ";tag=[pid]SIPpTag01[call_number]" if tag else ""
    contact = "\n      Contact: <sip:[local_ip]:[local_port];transport=[transport]>"
    tail = (contact if tag else "") + "\n      Content-Length: 0"
    if sdp:
        body = "\n      Content-Type: application/sdp\n      Content-Length: [len]\n\n      "
        tail = contact + body + sdp
    retrans = ' retrans="500"' if sdp else ""
    return f"""  <send{retrans}><![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]{to_tag}
      [last_Call-ID:]
      {cseq}{tail}
  ]]></send>"""


def talk_section(prefix: str, *, uac: bool) -> str:
    """An established call: wait for the far end's BYE or REFER, or a NOTIFY asking us to
    hang up.

    A REFER (a cold transfer) is accepted (202), reported done (NOTIFY with a 200 sipfrag),
    and the call then waits for LiveKit's BYE. `prefix` keeps labels unique. Requests we send
    name the dialog as we saw it: a caller (UAC) from its own From and the peer's To; a
    supervisor (UAS) the other way round.
    """
    if uac:
        ours = "From: [$me];tag=[pid]SIPpTag00[call_number]"
        theirs = "To: [$peer][peer_tag_param]"
    else:
        ours = "From: [$me];tag=[pid]SIPpTag01[call_number]"
        theirs = "To: [$peer]"
    return f"""
  <label id="{prefix}talk"/>
  <recv request="BYE|NOTIFY|REFER" regexp_match="true">
    <action>
      <ereg regexp="^NOTIFY" search_in="msg" check_it="false" assign_to="asked"/>
      <ereg regexp="^REFER" search_in="msg" check_it="false" assign_to="referred"/>
    </action>
  </recv>
  <nop test="asked" next="{prefix}hangup"/>
  <nop test="referred" next="{prefix}refer"/>
{response("200 OK")}
  <nop next="end"/>
  <label id="{prefix}refer"/>
{response("202 Accepted")}
  <send retrans="500"><![CDATA[
      NOTIFY [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {ours}
      {theirs}
      Call-ID: [call_id]
      CSeq: 8 NOTIFY
      Max-Forwards: 70
      Event: refer
      Subscription-State: terminated;reason=noresource
      Contact: <sip:[local_ip]:[local_port]>
      Content-Type: message/sipfrag
      Content-Length: [len]

      SIP/2.0 200 OK
  ]]></send>
  <recv response="200" next="{prefix}talk"/>
  <label id="{prefix}hangup"/>
{response("200 OK")}
  <send retrans="500"><![CDATA[
      BYE [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {ours}
      {theirs}
      Call-ID: [call_id]
      CSeq: 9 BYE
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200" next="end"/>
"""


class Sipp:
    """One sipp process running a generated scenario; `stop()` ends it."""

    def __init__(self, name: str, folder: Path, scenario: str, args: list[str]) -> None:
        self.name = name
        self.folder = folder
        self.script = folder / f"{name}.xml"
        self.trace = folder / f"{name}.messages.log"
        self.log = folder / f"{name}.log"
        self.script.write_text(scenario)
        command = [*DIE_WITH_PARENT, "sipp", "-sf", str(self.script), *args, "-nostdin"]
        command += ["-i", "127.0.0.1", "-mi", "127.0.0.1", "-bind_local", "-ci", "127.0.0.1"]
        command += ["-trace_msg", "-message_file", str(self.trace)]
        command += ["-trace_err", "-error_file", str(folder / f"{name}.errors.log")]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def messages(self) -> list[Message]:
        return messages(self.trace)

    def received(self, method: str | None = None) -> list[Message]:
        """The requests (and responses) this phone received, optionally one method only."""
        return [m for m in self.messages if m.received and (method is None or m.method == method)]

    def running(self) -> bool:
        return self.process.poll() is None

    def hang_up(self, call_id: str, port: int) -> None:
        """Ask the call `call_id` (waiting in its talk section) to hang up."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            me = s.getsockname()[1]
            s.sendto(
                (
                    f"NOTIFY sip:phone@127.0.0.1:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{secrets.token_hex(8)}\r\n"
                    "Max-Forwards: 70\r\nFrom: <sip:test@127.0.0.1>;tag=test\r\n"
                    f"To: <sip:phone@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
                    "CSeq: 1 NOTIFY\r\nEvent: hangup\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                ("127.0.0.1", port),
            )

    def stop(self) -> int | None:
        """End the process (SIGUSR1 lets sipp write its traces, SIGKILL if it lingers)."""
        if self.running():
            self.process.send_signal(signal.SIGUSR1)
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait(3)
        return self.process.returncode
