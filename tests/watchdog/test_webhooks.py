"""Only a webhook LiveKit signed with this key, for exactly its body, and still fresh, is
acted on; every other one is refused, counted by reason, and never reaches LiveKit."""

from __future__ import annotations

import datetime
import json

import pytest

from orchestrator.livekit.webhooks import MAX_BODY_BYTES, WebhookRefused, verify_webhook
from tests.watchdog.conftest import SECRET, World, sign

LEFT = json.dumps(
    {
        "event": "participant_left",
        "id": "EV_1",
        "room": {"name": "call-1"},
        "participant": {"identity": "agent-AJ_1", "kind": "AGENT"},
    }
).encode()


class TestVerify:
    def test_a_genuine_webhook_names_the_agent_that_left(self) -> None:
        """LiveKit's bare JWT, and a `Bearer ` one, both verify."""
        for auth in (sign(LEFT), f"Bearer {sign(LEFT)}"):
            left = verify_webhook(LEFT, auth, "devkey", SECRET)
            assert (left.event, left.room, left.identity) == (
                "participant_left",
                "call-1",
                "agent-AJ_1",
            )
            assert left.agent
            assert not left.room_deleted

    @pytest.mark.parametrize(
        ("body", "auth", "why"),
        [
            pytest.param(LEFT, None, "unsigned", id="no-authorization"),
            pytest.param(LEFT, "", "unsigned", id="empty-authorization"),
            pytest.param(LEFT, sign(LEFT, secret="x" * 40), "forged", id="other-secret"),
            pytest.param(LEFT, sign(LEFT, key="otherkey"), "forged", id="other-key"),
            pytest.param(LEFT, sign(LEFT, digest_of=b"{}"), "forged", id="body-swapped"),
            pytest.param(LEFT, "not-a-jwt", "forged", id="not-a-jwt"),
            pytest.param(
                LEFT,
                sign(LEFT, ttl=datetime.timedelta(minutes=-5)),
                "stale",
                id="expired",
            ),
            pytest.param(b"{not json", sign(b"{not json"), "malformed", id="signed-not-json"),
            pytest.param(b"\xff\xfe", sign(b"\xff\xfe"), "malformed", id="not-utf8"),
            pytest.param(b" " * (MAX_BODY_BYTES + 1), sign(b" "), "malformed", id="too-large"),
        ],
    )
    def test_refused(self, body: bytes, auth: str | None, why: str) -> None:
        with pytest.raises(WebhookRefused) as refused:
            verify_webhook(body, auth, "devkey", SECRET)
        assert refused.value.why == why


async def test_refused_webhooks_are_counted_and_never_acted_on(world: World) -> None:
    """Over HTTP: 401 (400 when malformed), a count per reason, not one LiveKit request."""
    world.call_with_agent()
    dog = await world.watchdog()
    await world.settle()
    before = len(world.sandbox.requests)
    tampered = LEFT.replace(b"call-1", b"call-2")
    cases = [
        (LEFT, None, 401),
        (LEFT, sign(LEFT, secret="y" * 40), 401),
        (tampered, sign(LEFT), 401),  # a genuine signature over another body
        (LEFT, sign(LEFT, ttl=datetime.timedelta(minutes=-5)), 401),
        (b"[]", sign(b"[]"), 400),
    ]
    for body, auth, status in cases:
        assert await world.post(dog, body, auth) == status
    await world.settle()
    assert world.sandbox.requests[before:] == []
    assert dog.metrics.get("webhooks", "refused_unsigned") == 1
    assert dog.metrics.get("webhooks", "refused_forged") == 2
    assert dog.metrics.get("webhooks", "refused_stale") == 1
    assert dog.metrics.get("webhooks", "refused_malformed") == 1
    assert dog.metrics.get("webhooks", "accepted") == 0


async def test_a_replayed_genuine_webhook_does_nothing_more(world: World) -> None:
    """LiveKit's own signed webhook, posted again later: one dispatch in all."""
    world.call_with_agent()
    dog = await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    [hook] = world.relay.left("agent-AJ_1")
    for _ in range(3):
        assert await world.post(dog, hook.body, hook.auth) == 200
    await world.settle()
    assert len(world.dispatches()) == 1
    assert dog.metrics.get("webhooks", "duplicate") == 3
