"""The HTTP side: Twirp routing, protobuf/JSON bodies, auth, faults, recording, idempotency.

`POST /twirp/livekit.<Service>/<Method>` with `application/protobuf` or `application/json`
(proto field names or lowerCamelCase; the answer uses the request's encoding). Unknown routes
are `bad_route`; methods of the real API the sandbox does not model are `unimplemented`.
`CreateSIPParticipant`, `TransferSIPParticipant` and `CreateDispatch` are idempotent per
`X-Livekit-Request-Id`, as LiveKit Cloud's dedup makes them, so a client's replay never dials
twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from livekit.protocol import agent_dispatch, room, sip

from orchestrator.livekit.probe import PROBE
from orchestrator.sandbox import dispatch as _dispatch, rooms as _rooms, sip as _sip
from orchestrator.sandbox.auth import AuthError, authenticate
from orchestrator.sandbox.core import HANDLERS, Core
from orchestrator.sandbox.scenario import FaultSpec
from orchestrator.sandbox.twirp import TwirpError

__all__ = ["Faults", "Recorder", "make_app"]

_ = (_dispatch, _rooms, _sip)  # imported for their @handler registrations
_METHODS = {
    (service.name, method.name): method
    for module in (room, sip, agent_dispatch)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
}
_IDEMPOTENT = {"CreateSIPParticipant", "TransferSIPParticipant", "CreateDispatch"}
_PROTOBUF = ("application/protobuf", "application/x-protobuf")
_REMEMBERED = 1000  # request ids whose answers replays get


_NAMED = ("room", "identity", "participant_identity")


class Faults:
    """Injected API faults, used in order: the first spec for the RPC with calls left wins."""

    def __init__(self, specs: list[FaultSpec]) -> None:
        self.remaining = [(spec, spec.times) for spec in specs]
        self.injected = 0

    def add(self, spec: FaultSpec) -> None:
        self.remaining.append((spec, spec.times))

    def take(self, rpc: str, message: Message) -> FaultSpec | None:
        probe = PROBE in (getattr(message, name, None) for name in _NAMED)
        for index, (spec, left) in enumerate(self.remaining):
            if spec.rpc == rpc and left > 0 and (spec.probe or not probe):
                self.remaining[index] = (spec, left - 1)
                self.injected += 1
                return spec
        return None


def fault_error(spec: FaultSpec) -> TwirpError:
    assert spec.code is not None
    meta = {}
    if spec.sip_status_code is not None:
        meta = {"sip_status_code": str(spec.sip_status_code), "sip_status": spec.message}
    return TwirpError(spec.code, spec.message, meta)


class Recorder:
    """Every request received, as dicts (and JSON lines in a file when one is given)."""

    def __init__(self, path: str | None = None) -> None:
        self.entries: list[dict[str, Any]] = []
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _room_of(message: Message) -> str | None:
    for name in ("room", "room_name"):
        if name in message.DESCRIPTOR.fields_by_name:
            value = getattr(message, name)
            return value if isinstance(value, str) and value else None
    if isinstance(message, room.CreateRoomRequest):
        return message.name or None
    return None


def _error(error: TwirpError) -> web.Response:
    return web.Response(
        status=error.status,
        body=json.dumps(error.body()).encode(),
        content_type="application/json",
    )


def make_app(
    core: Core,
    api_key: str,
    api_secret: str,
    recorder: Recorder,
    faults: Faults,
) -> web.Application:
    inflight: dict[tuple[str, str], asyncio.Task[Message]] = {}

    async def regions(_: web.Request) -> web.Response:
        return web.json_response({"regions": []}, headers={"Cache-Control": "no-store"})

    async def twirp(request: web.Request) -> web.Response:
        started = time.perf_counter()
        service_path, method = request.match_info["service"], request.match_info["method"]
        service = service_path.removeprefix("livekit.")
        rpc = f"{service}.{method}"
        entry: dict[str, Any] = {"time": time.time(), "rpc": rpc, "room": None, "request": None}

        def finish(response: web.Response, code: str) -> web.Response:
            entry["code"], entry["status"] = code, response.status
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            recorder.add(entry)
            return response

        descriptor = _METHODS.get((service, method))
        if not service_path.startswith("livekit.") or descriptor is None:
            route = f"POST {request.path}"
            return finish(
                _error(
                    TwirpError(
                        "bad_route",
                        f'no handler for path "{request.path}"',
                        {"twirp_invalid_route": route},
                    )
                ),
                "bad_route",
            )
        as_json = request.content_type == "application/json"
        if not as_json and request.content_type not in _PROTOBUF:
            error = TwirpError("bad_route", f'unexpected Content-Type: "{request.content_type}"')
            return finish(_error(error), error.code)
        try:
            grants = authenticate(request.headers.get("Authorization"), api_key, api_secret)
        except AuthError as exc:
            return finish(web.Response(status=401, text=str(exc)), "unauthenticated")
        message = GetMessageClass(descriptor.input_type)()
        body = await request.read()
        try:
            if as_json:
                json_format.Parse(body or b"{}", message, ignore_unknown_fields=True)
            else:
                message.ParseFromString(body)
        except (DecodeError, json_format.ParseError, UnicodeDecodeError):
            error = TwirpError("malformed", "the request body could not be decoded")
            return finish(_error(error), error.code)
        entry["room"] = _room_of(message)
        if entry["room"]:
            core.legs.room_used(entry["room"])
        try:
            entry["request"] = json_format.MessageToDict(message, preserving_proto_field_name=True)
        except (json_format.SerializeToJsonError, ValueError):  # out-of-range Duration etc.
            error = TwirpError("invalid_argument", "a field is out of range")
            return finish(_error(error), error.code)
        try:
            answer = await _call(rpc, method, request, message, grants)
        except TwirpError as error:
            return finish(_error(error), error.code)
        if as_json:
            text = json_format.MessageToJson(
                answer,
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            )
            reply = web.Response(body=text.encode(), content_type="application/json")
            return finish(reply, "ok")
        return finish(
            web.Response(body=answer.SerializeToString(), content_type="application/protobuf"),
            "ok",
        )

    async def _call(
        rpc: str, method: str, request: web.Request, message: Message, grants: Any
    ) -> Message:
        fn = HANDLERS.get((rpc.split(".")[0], method))
        if fn is None:
            raise TwirpError("unimplemented", f"the sandbox does not implement {rpc}")
        core.started += 1
        core.world.spawn(core.world.notify())
        fault = faults.take(rpc, message)

        async def work() -> Message:
            if fault is not None and fault.delay:
                with core.parked():
                    await core.clock.sleep(fault.delay)
            if fault is not None and fault.code is not None and not fault.lose_response:
                raise fault_error(fault)
            return await fn(core, grants, message)

        # The work runs as a sandbox task: a client giving up does not stop it (as on a
        # server), and stopping the sandbox does.
        request_id = request.headers.get("X-Livekit-Request-Id", "")
        key = (rpc, request_id)
        if method in _IDEMPOTENT and request_id:
            task = inflight.get(key)
            if task is None:
                task = inflight[key] = core.world.spawn(work())
                while len(inflight) > _REMEMBERED:  # forget the oldest answers first
                    del inflight[next(iter(inflight))]
        else:
            task = core.world.spawn(work())
        core.requests.add(task)
        try:
            answer: Message = await asyncio.shield(task)
        finally:
            core.requests.discard(task)
        if fault is not None and fault.code is not None:
            raise fault_error(fault)  # the work was done; only the answer is lost
        return answer

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/twirp/{service}/{method}", twirp)
    app.router.add_get("/settings/regions", regions)
    return app
