"""Twirp transport and auth, as the real server answers them."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import aiohttp
import jwt
import pytest
from google.protobuf import json_format
from livekit import api
from livekit.protocol import models, room as room_pb

from orchestrator.sandbox import Sandbox

ROUTE = "/twirp/livekit.RoomService/CreateRoom"


def token(sandbox: Sandbox, **grants: Any) -> str:
    return (
        api.AccessToken(sandbox.api_key, sandbox.api_secret)
        .with_grants(api.VideoGrants(**grants))
        .to_jwt()
    )


async def post(
    sandbox: Sandbox, path: str, body: bytes, content_type: str, auth: str | None
) -> tuple[int, str, str]:
    headers = {"Content-Type": content_type}
    if auth is not None:
        headers["Authorization"] = auth
    async with (
        aiohttp.ClientSession() as session,
        session.post(sandbox.url + path, data=body, headers=headers) as reply,
    ):
        return reply.status, reply.headers.get("Content-Type", ""), await reply.text()


class TestEncodings:
    async def test_protobuf_round_trip(self, livekit_api: api.LiveKitAPI) -> None:
        created = await livekit_api.room.create_room(api.CreateRoomRequest(name="r1"))
        assert created.name == "r1"
        assert created.sid.startswith("RM_")

    @pytest.mark.parametrize("field", ["empty_timeout", "emptyTimeout"])
    async def test_json_with_proto_or_camel_names(
        self, livekit_sandbox: Sandbox, field: str
    ) -> None:
        body = json.dumps({"name": "r2", field: 42}).encode()
        status, ctype, text = await post(
            livekit_sandbox,
            ROUTE,
            body,
            "application/json",
            f"Bearer {token(livekit_sandbox, room_create=True)}",
        )
        assert (status, ctype) == (200, "application/json")
        answer = json.loads(text)
        assert answer["empty_timeout"] == 42  # answers use proto field names...
        assert answer["num_participants"] == 0  # ...and include default values

    async def test_json_answer_parses_as_the_message(self, livekit_sandbox: Sandbox) -> None:
        auth = f"Bearer {token(livekit_sandbox, room_create=True)}"
        _, _, text = await post(livekit_sandbox, ROUTE, b'{"name":"r3"}', "application/json", auth)
        assert json_format.Parse(text, models.Room()).name == "r3"

    async def test_unexpected_content_type_is_bad_route(self, livekit_sandbox: Sandbox) -> None:
        status, ctype, text = await post(livekit_sandbox, ROUTE, b"x", "text/plain", None)
        assert (status, ctype) == (404, "application/json")
        assert json.loads(text)["code"] == "bad_route"

    async def test_unknown_method_is_bad_route(self, livekit_sandbox: Sandbox) -> None:
        status, _, text = await post(
            livekit_sandbox, "/twirp/livekit.RoomService/Nope", b"", "application/protobuf", None
        )
        error = json.loads(text)
        assert (status, error["code"]) == (404, "bad_route")
        assert error["meta"] == {"twirp_invalid_route": "POST /twirp/livekit.RoomService/Nope"}

    async def test_malformed_body(self, livekit_sandbox: Sandbox) -> None:
        auth = f"Bearer {token(livekit_sandbox, room_create=True)}"
        status, _, text = await post(
            livekit_sandbox, ROUTE, b"\xff\xff", "application/protobuf", auth
        )
        assert (status, json.loads(text)["code"]) == (400, "malformed")

    async def test_methods_the_sandbox_does_not_model(self, livekit_api: api.LiveKitAPI) -> None:
        with pytest.raises(api.TwirpError) as caught:
            await livekit_api.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
        assert (caught.value.code, caught.value.status) == ("unimplemented", 501)

    async def test_region_discovery_answers_no_regions(self, livekit_sandbox: Sandbox) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(livekit_sandbox.url + "/settings/regions") as reply,
        ):
            assert await reply.json() == {"regions": []}


class TestAuth:
    async def test_missing_grant_is_401_unauthenticated(self, livekit_sandbox: Sandbox) -> None:
        auth = f"Bearer {token(livekit_sandbox, room_list=True)}"
        status, ctype, text = await post(livekit_sandbox, ROUTE, b"", "application/protobuf", auth)
        assert (status, ctype) == (401, "application/json")
        assert json.loads(text) == {"code": "unauthenticated", "msg": "permissions denied"}

    async def test_no_header_means_no_grants(self, livekit_sandbox: Sandbox) -> None:
        status, _, text = await post(livekit_sandbox, ROUTE, b"", "application/protobuf", None)
        assert (status, json.loads(text)["code"]) == (401, "unauthenticated")

    async def test_admin_grant_is_for_one_room(self, livekit_sandbox: Sandbox) -> None:
        client = api.LiveKitAPI(
            livekit_sandbox.url, livekit_sandbox.api_key, livekit_sandbox.api_secret
        )
        try:
            await client.room.create_room(api.CreateRoomRequest(name="mine"))
            wrong = token(livekit_sandbox, room_admin=True, room="other")
            body = room_pb.ListParticipantsRequest(room="mine").SerializeToString()
            status, _, _ = await post(
                livekit_sandbox,
                "/twirp/livekit.RoomService/ListParticipants",
                body,
                "application/protobuf",
                f"Bearer {wrong}",
            )
            assert status == 401
        finally:
            await client.aclose()

    @pytest.mark.parametrize(
        "auth",
        [
            pytest.param("Token abc", id="not-bearer"),
            pytest.param("Bearer not-a-jwt", id="garbage"),
        ],
    )
    async def test_malformed_credentials_get_plain_text(
        self, livekit_sandbox: Sandbox, auth: str
    ) -> None:
        status, ctype, _ = await post(livekit_sandbox, ROUTE, b"", "application/protobuf", auth)
        assert status == 401
        assert ctype.startswith("text/plain")  # Go's http.Error, not JSON

    async def test_python_client_reads_plain_text_401_as_unknown(
        self, livekit_sandbox: Sandbox
    ) -> None:
        client = api.LiveKitAPI(livekit_sandbox.url, livekit_sandbox.api_key, "wrong-secret-" * 3)
        try:
            with pytest.raises(api.TwirpError) as caught:
                await client.room.create_room(api.CreateRoomRequest(name="x"))
            assert (caught.value.code, caught.value.status) == ("unknown", 401)
        finally:
            await client.aclose()

    def _raw(self, sandbox: Sandbox, **claims: Any) -> str:
        payload = {"iss": sandbox.api_key, "video": {"roomCreate": True}, **claims}
        return jwt.encode(payload, sandbox.api_secret, algorithm="HS256")

    async def test_expiry_with_60_second_leeway(self, livekit_sandbox: Sandbox) -> None:
        now = int(time.time())
        fresh = self._raw(livekit_sandbox, exp=now - 30)
        stale = self._raw(livekit_sandbox, exp=now - 120)
        assert (
            await post(livekit_sandbox, ROUTE, b"", "application/protobuf", f"Bearer {fresh}")
        )[0] == 400
        assert (
            await post(livekit_sandbox, ROUTE, b"", "application/protobuf", f"Bearer {stale}")
        )[0] == 401

    async def test_exp_is_required(self, livekit_sandbox: Sandbox) -> None:
        no_exp = self._raw(livekit_sandbox)
        assert (
            await post(livekit_sandbox, ROUTE, b"", "application/protobuf", f"Bearer {no_exp}")
        )[0] == 401

    async def test_unknown_key(self, livekit_sandbox: Sandbox) -> None:
        exp = int(time.time()) + 60
        other = jwt.encode(
            {"iss": "other", "exp": exp}, livekit_sandbox.api_secret, algorithm="HS256"
        )
        assert (
            await post(livekit_sandbox, ROUTE, b"", "application/protobuf", f"Bearer {other}")
        )[0] == 401

    async def test_short_lived_token_from_the_client_works(self, livekit_sandbox: Sandbox) -> None:
        minted = (
            api.AccessToken(livekit_sandbox.api_key, livekit_sandbox.api_secret)
            .with_grants(api.VideoGrants(room_create=True))
            .with_ttl(datetime.timedelta(seconds=30))
            .to_jwt()
        )
        client = api.LiveKitAPI(livekit_sandbox.url, token=minted)
        try:
            room = await client.room.create_room(api.CreateRoomRequest(name="t"))
            assert room.name == "t"
        finally:
            await client.aclose()


async def test_every_request_is_recorded(
    livekit_sandbox: Sandbox, livekit_api: api.LiveKitAPI
) -> None:
    await livekit_api.room.create_room(api.CreateRoomRequest(name="rec", empty_timeout=30))
    with pytest.raises(api.TwirpError):
        await livekit_api.room.delete_room(api.DeleteRoomRequest(room="missing"))
    first, second = livekit_sandbox.requests
    assert first["rpc"] == "RoomService.CreateRoom"
    assert first["request"] == {"name": "rec", "empty_timeout": 30}
    assert (first["room"], first["code"], first["status"]) == ("rec", "ok", 200)
    assert (second["rpc"], second["code"], second["status"]) == (
        "RoomService.DeleteRoom",
        "not_found",
        404,
    )
    assert isinstance(first["duration_ms"], float)
