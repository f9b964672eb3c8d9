"""Real SIP phones for the real stack: the inbound caller, and the supervisors' phones.

Both take the sandbox's own vocabulary, so one scenario drives either LiveKit: the caller is
`CallerSpec`-like (a number, an optional hang-up time), the supervisors are the scenario's
`phones` (`PhoneSpec`: answer after N s, busy, decline, unavailable, no_answer; then press 1,
press 2, hang up or stay silent) behind a trunk whose caller-ID policy may refuse, with 403,
a From it does not own.

* `Caller`: a sipp UAC that calls LiveKit's SIP bridge presenting `number` in From.
* `Carrier`: one sipp UAS at the outbound trunk's address answering every number dialled,
  each as its `PhoneSpec` says; each number has its own RTP port (an `RtpPhone`).

Every phone records the SIP messages it received (`received()`), and its media what it heard.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from pathlib import Path

from orchestrator.agents.offline import BRIEF_WORDS
from orchestrator.sandbox.scenario import BriefTalk, PhoneSpec
from tests.e2e.harness.deadline import until
from tests.e2e.harness.rtp import Heard, RtpPhone
from tests.e2e.harness.sipp import Message, Sipp, response, talk_section

__all__ = ["CARRIER_PORT", "Caller", "Carrier"]

CARRIER_PORT = 5070
CALLER_PORT = 5080
_FAILURES = {
    "busy": "486 Busy Here",
    "decline": "603 Decline",
    "unavailable": "480 Unavailable",
    "request_timeout": "408 Request Timeout",
}
_SAYING_S = 0.8  # how long a phone holds the tone of one sentence
_ANSWER_S = 20.0  # how long a supervisor waits for the briefing agent's answer
_AI_HZ = 1500.0  # the offline TTS's voice
_TONES = {words: hz for hz, words in BRIEF_WORDS.items()}
_DTMF_AFTER_ANSWER_S = 1.2  # the bridge listens for digits only from a second after the ACK


def _sdp(port: int, origin: str) -> str:
    return f"""v=0
      o={origin} 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {port} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=sendrecv"""


class Caller:
    """The inbound caller: INVITE to `to` (a number of the inbound trunk) from `number`."""

    def __init__(
        self, folder: Path, number: str, *, to: str, bridge: str, hangup_after: float | None
    ) -> None:
        self.folder, self.number, self.to, self.bridge = folder, number, to, bridge
        self.hangup_after = hangup_after
        self.call_id = f"caller-{secrets.token_hex(6)}"
        self.sipp: Sipp | None = None
        self.media: RtpPhone | None = None

    @property
    def _from(self) -> str:
        uri = f"<sip:{self.number}@[local_ip]:[local_port]>"
        return f'"{self.number}" {uri};tag=[pid]SIPpTag00[call_number]'

    def _scenario(self, rtp_port: int) -> str:
        rejected = "".join(
            f'  <recv response="{code}" optional="true" next="rejected"/>\n'
            for code in (403, 404, 480, 486, 487, 488, 500, 503, 603)
        )
        talk = talk_section("", uac=True)
        if self.hangup_after is not None:  # hang up by itself after that many seconds
            wait = f' timeout="{int(self.hangup_after * 1000)}" ontimeout="hangup"'
            talk = talk.replace('regexp_match="true">', f'regexp_match="true"{wait}>', 1)
        return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {self._from}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{self.number}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      {_sdp(rtp_port, "caller")}
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
{rejected}  <recv response="200">
    <action>
      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" assign_to="contact"/>
      <ereg regexp="[^>]*>" search_in="hdr" header="From:" assign_to="me"/>
      <ereg regexp="[^>]*>" search_in="hdr" header="To:" assign_to="peer"/>
    </action>
  </recv>
  <send><![CDATA[
      ACK [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$me];tag=[pid]SIPpTag00[call_number]
      To: [$peer][peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
{talk}
  <label id="rejected"/>
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {self._from}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Content-Length: 0
  ]]></send>
  <label id="end"/>
</scenario>
"""

    async def start(self) -> None:
        self.media = await RtpPhone.open(hz=440)
        args = ["-s", self.to, self.bridge, "-p", str(CALLER_PORT), "-mp", "16010"]
        args += ["-m", "1", "-timeout", "900s", "-timeout_error", "-cid_str", self.call_id]
        self.sipp = Sipp("caller", self.folder, self._scenario(self.media.port), args)

    def received(self, method: str | None = None) -> list[Message]:
        return self.sipp.received(method) if self.sipp else []

    def when(self, method: str, *, received: bool = True) -> float | None:
        """When this phone first received (or sent) `method` (Unix time), if it did."""
        return _when(self.sipp, self.call_id, method, received)

    @property
    def heard(self) -> Heard | None:
        return self.media.calls[-1] if self.media and self.media.calls else None

    def hang_up(self) -> None:
        assert self.sipp is not None
        self.sipp.hang_up(self.call_id, CALLER_PORT)

    async def wait_ended(self, seconds: float = 30) -> None:
        """Until the call is over (sipp exits after its one call)."""
        await until(lambda: self.sipp is None or not self.sipp.running(), seconds, "call end")

    async def aclose(self) -> None:
        """Stop the phone (its sipp ends in a thread: that can take seconds)."""
        if self.sipp is not None:
            await asyncio.to_thread(self.sipp.stop)
        if self.media:
            self.media.close()


class Carrier:
    """The supervisors' phones, all behind one trunk address (`127.0.0.1:CARRIER_PORT`).

    `allowed_from`: the From users the carrier lets through; any other gets 403 (None: all).
    """

    def __init__(
        self, folder: Path, phones: dict[str, PhoneSpec], *, allowed_from: list[str] | None
    ) -> None:
        self.folder = folder
        self.phones = dict(phones)
        self.phones.setdefault("default", PhoneSpec())
        self.allowed_from = allowed_from
        self.media: dict[str, RtpPhone] = {}
        self.sipp: Sipp | None = None
        self.pressed: list[tuple[str, str, float]] = []
        """(phone, digit, Unix time) of every key a supervisor pressed."""
        self.said: list[tuple[str, str, float, float]] = []
        """(phone, words, monotonic start, end) of everything a supervisor said to a
        conversational brief."""
        self.answers: list[tuple[str, float]] = []
        """(phone, monotonic time) of the first AI word heard after each question."""
        self._tasks: set[asyncio.Task[None]] = set()

    def _branch(self, key: str, index: int, spec: PhoneSpec) -> str:
        label = f"p{index}_"
        answer = spec.answer
        if isinstance(answer, str) and answer in _FAILURES:
            return f"""
  <label id="{label}"/>
{response("180 Ringing", tag=True)}
  <pause milliseconds="300"/>
{response(_FAILURES[answer], tag=True)}
  <recv request="ACK" next="end"/>
"""
        delay = 2.0 if answer == "voicemail" else answer
        wait = "" if answer == "no_answer" else f' timeout="{max(int(delay * 1000), 1)}"'
        wait += "" if answer == "no_answer" else f' ontimeout="{label}answer"'
        # Ringing until answered; a CANCEL first gets 200, the INVITE 487 (LiveKit's bridge
        # sends no ACK for that 487, so the wait for one is short).
        return f"""
  <label id="{label}"/>
{response("180 Ringing", tag=True)}
  <recv request="CANCEL"{wait}/>
{response("200 OK", tag=True)}
{response("487 Request Terminated", tag=True, cseq="CSeq: [$inv_cseq] INVITE")}
  <recv request="ACK" timeout="2000" ontimeout="end" next="end"/>
  <label id="{label}answer"/>
{response("200 OK", tag=True, sdp=_sdp(self.media[key].port, "phone"))}
  <recv request="ACK" next="talk"/>
"""

    def _scenario(self) -> str:
        keys = [k for k in self.phones if k != "default"] + ["default"]
        tests = "".join(
            f'      <ereg regexp="^INVITE sip:{re.escape(k)}@" search_in="msg" '
            f'check_it="false" assign_to="n{i}"/>\n'
            for i, k in enumerate(keys[:-1])
        )
        route = (
            "".join(f'  <nop test="n{i}" next="p{i}_"/>\n' for i, _ in enumerate(keys[:-1]))
            + f'  <nop next="p{len(keys) - 1}_"/>\n'
        )
        gate = ""
        if self.allowed_from is not None:
            allowed = "|".join(re.escape(number) for number in self.allowed_from)
            tests += (
                f'      <ereg regexp="sip:({allowed})@" search_in="hdr" header="From:" '
                'check_it="false" assign_to="allowed"/>\n'
            )
            gate = f"""  <nop test="allowed" next="route"/>
{response("403 Forbidden", tag=True)}
  <recv request="ACK" next="end"/>
  <label id="route"/>
"""
        branches = "".join(self._branch(k, i, self.phones[k]) for i, k in enumerate(keys))
        return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="supervisor phones">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="inv_cseq"/>
      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" assign_to="contact"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="peer"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="me"/>
{tests}    </action>
  </recv>
{gate}{route}{branches}{talk_section("", uac=False)}
  <label id="end"/>
</scenario>
"""

    async def start(self) -> None:
        for key in self.phones:
            phone = await RtpPhone.open(hz=1000)
            phone.on_call = lambda heard, key=key, phone=phone: self._on_answer(key, phone, heard)
            self.media[key] = phone
        args = ["-p", str(CARRIER_PORT), "-mp", "16000"]
        self.sipp = Sipp("carrier", self.folder, self._scenario(), args)

    def _on_answer(self, key: str, phone: RtpPhone, heard: Heard) -> None:
        """Media has started on an answered call: react to the brief as the spec says."""
        spec = self.phones[key]
        if spec.on_brief == "silent" or spec.answer == "voicemail":
            return
        task = asyncio.ensure_future(self._react(key, phone, heard))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _react(self, key: str, phone: RtpPhone, heard: Heard) -> None:
        spec = self.phones[key]
        await asyncio.sleep(max(spec.decide_after, _DTMF_AFTER_ANSWER_S))
        if heard is not phone.calls[-1]:
            return  # that call is over
        if isinstance(spec.on_brief, BriefTalk):
            await self._talk(key, phone, heard, spec)
        if spec.reaction in ("accept", "decline") and not spec.keypad:
            await self._say(key, phone, spec.reaction if spec.reaction == "decline" else "connect")
        elif spec.reaction in ("accept", "decline"):
            digit = "1" if spec.reaction == "accept" else "2"
            self.pressed.append((key, digit, time.time()))
            await phone.press(digit)
        elif spec.reaction == "hangup":
            self.hang_up(self._live_call(key))

    async def _say(self, key: str, phone: RtpPhone, words: str) -> None:
        start = time.monotonic()
        await phone.say(_TONES[words], _SAYING_S)
        self.said.append((key, words, start, time.monotonic()))

    async def _talk(self, key: str, phone: RtpPhone, heard: Heard, spec: PhoneSpec) -> None:
        """Ask each question, then wait for the briefing agent's answer (its voice again)."""
        for question in spec.asks:
            # After the agent's last sentence (the opening first): a question is not talked
            # over, and the answer is the next voice heard.
            await until(lambda: _quiet(heard), _ANSWER_S, "the briefing agent to finish")
            await self._say(key, phone, question)
            asked = time.monotonic()
            await until(
                lambda asked=asked: heard.first_tone(_AI_HZ, since=asked) is not None,
                _ANSWER_S,
                f"the answer to {question!r}",
            )
            answered = heard.first_tone(_AI_HZ, since=asked)
            assert answered is not None
            self.answers.append((key, answered))
        if spec.asks:  # heard out before deciding
            await until(lambda: _quiet(heard), _ANSWER_S, "the answer to end")

    def _live_call(self, key: str) -> str:
        """The Call-ID of the call up on the phone `key` (a number, or `default`)."""
        listed, live = set(self.phones) - {"default"}, set(self.live())
        for invite in reversed(self.invites()):
            ours = invite.to_user == key or (key == "default" and invite.to_user not in listed)
            if ours and invite.call_id in live:
                return invite.call_id
        raise LookupError(f"no call up on the phone {key}")

    # -- what happened ------------------------------------------------------------------

    def received(self, method: str | None = None) -> list[Message]:
        return self.sipp.received(method) if self.sipp else []

    def invites(self, number: str | None = None) -> list[Message]:
        """The INVITEs that rang a phone (one per call: retransmissions are not counted)."""
        seen: dict[str, Message] = {}
        for message in self.received("INVITE"):
            if number is None or message.to_user == number:
                seen.setdefault(message.call_id, message)
        return list(seen.values())

    def call(self, call_id: str) -> list[str]:
        """The methods of the requests one call received, in order (no retransmissions)."""
        methods: list[str] = []
        for message in self.received():
            fresh = not methods or methods[-1] != message.method
            if message.call_id == call_id and message.is_request and fresh:
                methods.append(message.method)
        return methods

    def live(self) -> list[str]:
        """Call-IDs of calls answered (200 OK sent) and not hung up by either side."""
        answered, ended = set(), set()
        for message in self.sipp.messages if self.sipp else []:
            if (
                not message.received
                and message.method == "200"
                and "INVITE" in message.headers.get("cseq", "")
            ):
                answered.add(message.call_id)
            if message.method == "BYE":
                ended.add(message.call_id)
        return sorted(answered - ended)

    def when(self, call_id: str, method: str, *, received: bool = True) -> float | None:
        """When the call `call_id` first received (or sent) `method` (Unix time), if it did."""
        return _when(self.sipp, call_id, method, received)

    def exchange(self, call_id: str) -> list[str]:
        """Every message of one call, in order: "<" received, ">" sent (for failure notes)."""
        return [
            f"{'<' if m.received else '>'} {m.method}"
            for m in (self.sipp.messages if self.sipp else [])
            if m.call_id == call_id
        ]

    def bye_answered(self, call_id: str) -> bool:
        """Whether the far end answered a BYE this phone sent on `call_id` with a 200."""
        seen = self.exchange(call_id)
        return "> BYE" in seen and "< 200" in seen[seen.index("> BYE") :]

    def heard(self, number: str) -> Heard | None:
        phone = self.media.get(number) or self.media["default"]
        return phone.calls[-1] if phone.calls else None

    def hang_up(self, call_id: str) -> None:
        assert self.sipp is not None
        self.sipp.hang_up(call_id, CARRIER_PORT)

    async def aclose(self) -> None:
        """Stop the phones (sipp ends in a thread: that can take seconds)."""
        for task in self._tasks:
            task.cancel()
        if self.sipp is not None:
            await asyncio.to_thread(self.sipp.stop)
        for phone in self.media.values():
            phone.close()


def _quiet(heard: Heard) -> bool:
    """The AI has spoken on this call, and not in the last second."""
    last = time.monotonic() - 1.0
    return heard.first_tone(_AI_HZ) is not None and heard.first_tone(_AI_HZ, since=last) is None


def _when(sipp: Sipp | None, call_id: str, method: str, received: bool) -> float | None:
    for message in sipp.messages if sipp else []:
        if (message.call_id, message.received, message.method) == (call_id, received, method):
            return message.at
    return None
