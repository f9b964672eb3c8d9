"""The media side of a test phone: RTP in and out on one UDP port, as a real phone does.

sipp does the signalling; the SDP it sends names this port. Once the far end (LiveKit's SIP
bridge) sends its first packet, the phone answers with 20 ms PCMU frames of its own (a tone or
silence), so the bridge's media timeout never fires and whoever is joined to the phone hears
it. Every packet received is kept with its loudness, so a test can ask whether the phone heard
sound in a window of time; digits are pressed as RFC 4733 telephone events (payload type 101,
the one the bridge offers and our SDP answers).
"""

from __future__ import annotations

import asyncio
import math
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

__all__ = ["DTMF_PT", "Heard", "RtpPhone"]

DTMF_PT = 101
_PCMU = 0
_FRAME = 160  # samples (and bytes) of 20 ms at 8 kHz
_LOUD = 300.0  # RMS over which a frame counts as sound (silence decodes to 0..8)
_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def _ulaw_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(magnitude.bit_length() - 8, 0)
    exponent = min(exponent, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = ((((byte & 0x0F) << 3) + 0x84) << ((byte >> 4) & 0x07)) - 0x84
    return -magnitude if byte & 0x80 else magnitude


_DECODE = [_ulaw_decode(b) for b in range(256)]
_SILENCE = bytes([0xFF]) * _FRAME


def tone(hz: float) -> list[bytes]:
    """One second of a sine at `hz`, as fifty 20 ms PCMU frames."""
    samples = [round(8000 * math.sin(2 * math.pi * hz * n / 8000)) for n in range(8000)]
    encoded = bytes(_ulaw_encode(s) for s in samples)
    return [encoded[i : i + _FRAME] for i in range(0, 8000, _FRAME)]


def purity(payload: bytes, hz: float) -> float:
    """How much of a PCMU payload's energy is a sine at `hz` (1: a pure tone; Goertzel)."""
    samples = [_DECODE[b] for b in payload]
    energy = sum(x * x for x in samples)
    if not energy:
        return 0.0
    coefficient = 2 * math.cos(2 * math.pi * hz / 8000)
    previous = before = 0.0
    for x in samples:
        previous, before = x + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return min(2 * power / (len(samples) * energy), 1.0)


def loudness(payload: bytes) -> float:
    """RMS of a PCMU payload."""
    if not payload:
        return 0.0
    return math.sqrt(sum(_DECODE[b] ** 2 for b in payload) / len(payload))


@dataclass
class Heard:
    """What one call's media brought: per received audio packet, its time and loudness."""

    remote: tuple[str, int]
    first: float
    audio: list[tuple[float, float]] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    """The PCMU payload of each packet of `audio`."""
    events: list[int] = field(default_factory=list)
    """RFC 4733 event codes received (each press once)."""

    def loud(self, since: float = 0.0, until: float = math.inf) -> int:
        """How many packets between `since` and `until` (monotonic times) carried sound."""
        return sum(1 for at, level in self.audio if since <= at < until and level > _LOUD)

    def tone(self, hz: float, since: float = 0.0, until: float = math.inf) -> int:
        """How many packets between `since` and `until` carried mostly a tone at `hz` (a
        phone's own tone, or the offline TTS's voice), as opposed to silence or music."""
        return sum(
            1
            for (at, level), payload in zip(self.audio, self.payloads, strict=True)
            if since <= at < until and level > _LOUD and purity(payload, hz) > 0.5
        )

    def first_tone(self, hz: float, since: float = 0.0) -> float | None:
        """When the first packet at or after `since` carrying mostly `hz` arrived (monotonic)."""
        for (at, level), payload in zip(self.audio, self.payloads, strict=True):
            if at >= since and level > _LOUD and purity(payload, hz) > 0.5:
                return at
        return None

    def last_loud(self, until: float = math.inf) -> float | None:
        """When the last packet with sound before `until` arrived (None: there was none)."""
        times = [at for at, level in self.audio if at < until and level > _LOUD]
        return max(times) if times else None


class RtpPhone(asyncio.DatagramProtocol):
    """One phone line's RTP port. A new far-end address starts a new call (`calls[-1]`)."""

    def __init__(self, *, hz: float | None) -> None:
        self.frames = tone(hz) if hz else [_SILENCE]
        self.calls: list[Heard] = []
        self.on_call: Callable[[Heard], None] | None = None
        """Called when a new call's media starts (the far end's first packet)."""
        self._transport: asyncio.DatagramTransport | None = None
        self._sender: asyncio.Task[None] | None = None
        self._seq = secrets.randbelow(1 << 16)
        self._stamp = secrets.randbelow(1 << 31)
        self._ssrc = secrets.randbelow(1 << 32)
        self._last_event: tuple[int, int] | None = None
        self._pressing = False
        self.port = 0

    @classmethod
    async def open(cls, *, hz: float | None = None) -> RtpPhone:
        loop = asyncio.get_running_loop()
        _, phone = await loop.create_datagram_endpoint(
            lambda: cls(hz=hz), local_addr=("127.0.0.1", 0)
        )
        return phone

    # -- asyncio ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12:
            return
        now = time.monotonic()
        if not self.calls or self.calls[-1].remote != addr:
            self.calls.append(Heard(remote=addr, first=now))
            if self.on_call is not None:
                self.on_call(self.calls[-1])
            if self._sender is None or self._sender.done():
                self._sender = asyncio.ensure_future(self._send())
        call = self.calls[-1]
        kind = data[1] & 0x7F
        header = 12 + 4 * (data[0] & 0x0F)
        payload = data[header:]
        if kind == _PCMU:
            call.audio.append((now, loudness(payload)))
            call.payloads.append(payload)
        elif kind == DTMF_PT and len(payload) >= 4:
            stamp = struct.unpack("!I", data[4:8])[0]
            if self._last_event != (stamp, payload[0]):
                self._last_event = (stamp, payload[0])
                call.events.append(payload[0])

    def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
        if self._transport is not None:
            self._transport.close()

    # -- sending ------------------------------------------------------------------------

    def _packet(self, kind: int, payload: bytes, *, marker: bool = False) -> bytes:
        self._seq = (self._seq + 1) & 0xFFFF
        first = 0x80
        second = (0x80 if marker else 0) | kind
        head = struct.pack("!BBHII", first, second, self._seq, self._stamp, self._ssrc)
        return head + payload

    async def _send(self) -> None:
        """20 ms frames to the latest far end, paced by the clock, not by sleeps adding up."""
        start, index = time.monotonic(), 0
        while self._transport is not None and not self._transport.is_closing():
            if not self._pressing and self.calls:
                frame = self.frames[index % len(self.frames)]
                self._transport.sendto(self._packet(_PCMU, frame), self.calls[-1].remote)
            self._stamp = (self._stamp + _FRAME) & 0xFFFFFFFF
            index += 1
            await asyncio.sleep(max(start + index * 0.02 - time.monotonic(), 0))

    async def say(self, hz: float, seconds: float) -> None:
        """ "Say" something: send a tone at `hz` instead of the phone's own for `seconds` (the
        offline STT hears it as words: `orchestrator.agents.offline.BRIEF_WORDS`)."""
        own, self.frames = self.frames, tone(hz)
        try:
            await asyncio.sleep(seconds)  # the phone's speaking time, paced by `_send`
        finally:
            self.frames = own

    async def press(self, digit: str, *, ms: int = 160) -> None:
        """Press `digit` once (RFC 4733: start packets, then three end packets)."""
        if not self.calls or self._transport is None:
            raise RuntimeError("no call to press a digit in: the far end has sent no media")
        call, event = self.calls[-1], _EVENTS[digit]
        self._pressing = True
        try:
            stamp, duration, marker = self._stamp, 0, True
            while duration < ms * 8:
                duration += _FRAME
                body = struct.pack("!BBH", event, 10, duration)
                self._send_event(body, stamp, marker, call.remote)
                marker = False
                await asyncio.sleep(0.02)
            for _ in range(3):
                body = struct.pack("!BBH", event, 0x80 | 10, duration)
                self._send_event(body, stamp, False, call.remote)
        finally:
            self._pressing = False

    def _send_event(self, body: bytes, stamp: int, marker: bool, to: tuple[str, int]) -> None:
        assert self._transport is not None
        saved, self._stamp = self._stamp, stamp
        self._transport.sendto(self._packet(DTMF_PT, body, marker=marker), to)
        self._stamp = saved
