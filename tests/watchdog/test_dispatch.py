"""One dispatch per loss, and none where there is nothing to recover."""

from __future__ import annotations

from typing import Any

import pytest
from livekit import api
from livekit.protocol import models

from orchestrator.watchdog import watchdog as watchdog_module
from orchestrator.watchdog.decide import CLAIM_KEY, MAX_DISPATCHES, Claim
from orchestrator.watchdog.watchdog import DISPATCH_RETRIES_S
from tests.watchdog.conftest import AGENT, TRANSFER_ID, World
from tests.watchdog.test_sweep import sweep


def attributes(world: World, identity: str, room: str = "call-1") -> dict[str, str]:
    member = world.sandbox.world.member(room, identity)
    assert member is not None
    return dict(member.info.attributes)


async def test_an_agent_lost_mid_transfer_is_dispatched_again(world: World) -> None:
    """The agent is dispatched to the caller's room again, with the job metadata it was
    first dispatched with, and the caller carries the claim of that loss."""
    caller = world.call_with_agent()
    state = world.sandbox.room("call-1")
    assert state is not None
    first = api.AgentDispatch(id="AD_first", agent_name=AGENT, room="call-1", metadata="m")
    state.dispatches[first.id] = first
    dog = await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert world.dispatches() == [{"agent_name": AGENT, "room": "call-1", "metadata": "m"}]
    claim = Claim.parse(attributes(world, caller)[CLAIM_KEY])
    assert claim is not None
    [left] = world.relay.left("agent-AJ_1")
    sid = left.event["participant"]["sid"]
    assert claim == Claim(TRANSFER_ID, 1, f"agent-AJ_1#{sid}", dog.id)
    assert dog.metrics.get("decisions", "dispatched") == 1


async def test_an_agent_that_reconnected_then_was_lost(world: World) -> None:
    """One identity, two departures (a new sid after the reconnect): the second is a loss."""
    world.call_with_agent()
    dog = await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.quiet()
    world.sandbox.add_agent("call-1", "agent-AJ_1")  # back before the claim was confirmed
    await world.settle()
    assert world.dispatches() == []
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert len(world.dispatches()) == 1
    assert dog.metrics.get("webhooks", "accepted") == 2


async def test_duplicate_and_reordered_deliveries_dispatch_once(world: World) -> None:
    """The loss's webhook three times, the room's others replayed in reverse, before and
    after the new agent came and after the transfer was unwound: one dispatch."""
    caller = world.call_with_agent()
    dog = await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    [lost] = world.relay.left("agent-AJ_1")
    history = list(reversed(world.relay.hooks))
    for hook in [lost, *history, lost]:
        assert await world.post(dog, hook.body, hook.auth) == 200
    await world.settle()
    world.sandbox.add_agent("call-1", "agent-AJ_2")  # the replacement job
    for hook in [lost, *history]:
        await world.post(dog, hook.body, hook.auth)
    await world.settle()
    world.sandbox.world.set_attributes("call-1", caller, {"transfer.state": "", "transfer.id": ""})
    world.sandbox.remove("call-1", "agent-AJ_2")  # recovered, then the job ended normally
    await world.settle()
    for hook in [lost, *history]:
        await world.post(dog, hook.body, hook.auth)
    await world.settle()
    assert len(world.dispatches()) == 1


async def test_a_second_watchdog_restarted_later_does_not_dispatch_again(world: World) -> None:
    """Duplicates across processes: the claim on the caller records the loss as handled."""
    world.call_with_agent()
    await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    later = await world.watchdog(relay=False)
    [lost] = world.relay.left("agent-AJ_1")
    await world.post(later, lost.body, lost.auth)
    await world.settle()
    assert len(world.dispatches()) == 1
    assert later.metrics.get("decisions", "handled") == 1


async def test_two_watchdogs_side_by_side_dispatch_once(world: World) -> None:
    """Both get every webhook (two `webhook.urls`) at the same moment: one claim stands."""
    world.call_with_agent("call-1", "agent-AJ_1")
    world.call_with_agent("call-2", "agent-AJ_2")
    one, two = await world.watchdog(), await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    world.sandbox.remove("call-2", "agent-AJ_2")
    await world.settle()
    assert sorted(d["room"] for d in world.dispatches()) == ["call-1", "call-2"]
    assert (
        one.metrics.get("decisions", "other_watchdog")
        + two.metrics.get("decisions", "other_watchdog")
        == 2
    )


@pytest.mark.parametrize("failures", [1, 2, 3])
async def test_create_dispatch_failing_is_retried(world: World, failures: int) -> None:
    world.call_with_agent()
    dog = await world.watchdog()
    world.sandbox.add_fault("AgentDispatchService.CreateDispatch", "unavailable", times=failures)
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert len(world.dispatches()) == 1
    assert dog.metrics.get("dispatch_attempts") == failures + 1


async def test_retries_are_bounded(world: World) -> None:
    """Four attempts, then the loss is given up (and counted); no fifth call."""
    world.call_with_agent()
    dog = await world.watchdog()
    world.sandbox.add_fault("AgentDispatchService.CreateDispatch", "unavailable", times=100)
    world.sandbox.remove("call-1", "agent-AJ_1")
    started = world.clock.now()
    await world.settle()
    attempts = len(DISPATCH_RETRIES_S) + 1
    assert world.calls("AgentDispatchService.CreateDispatch") == attempts
    assert dog.metrics.get("dispatch_failures") == 1
    assert world.clock.now() - started < sum(DISPATCH_RETRIES_S) + 3


async def test_a_refused_key_is_not_retried(world: World) -> None:
    world.call_with_agent()
    dog = await world.watchdog()
    world.sandbox.add_fault("AgentDispatchService.CreateDispatch", "permission_denied", times=9)
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert world.calls("AgentDispatchService.CreateDispatch") == 1
    assert dog.metrics.get("dispatch_failures") == 1


async def test_a_lost_answer_does_not_dispatch_twice(world: World) -> None:
    """CreateDispatch did its work but the answer was lost: the retry sees the dispatch."""
    world.call_with_agent()
    await world.watchdog()
    world.sandbox.add_fault(
        "AgentDispatchService.CreateDispatch", "unavailable", lose_response=True
    )
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert world.calls("AgentDispatchService.CreateDispatch") == 1
    state = world.sandbox.room("call-1")
    assert state is not None
    assert len(state.dispatches) == 1


class TestNothingToRecover:
    async def test_a_room_without_checkpoint(self, world: World) -> None:
        world.sandbox.place_caller("call-1")
        world.sandbox.add_agent("call-1", "agent-AJ_1")
        dog = await world.watchdog()
        world.sandbox.remove("call-1", "agent-AJ_1")
        await world.settle()
        assert world.dispatches() == []
        assert dog.metrics.get("decisions", "no_checkpoint") == 1

    async def test_a_transfer_that_ended_normally(self, world: World) -> None:
        """The engine clears the checkpoint when a transfer ends; then the job ends."""
        caller = world.call_with_agent()
        dog = await world.watchdog()
        cleared = {"transfer.id": "", "transfer.state": ""}
        world.sandbox.world.set_attributes("call-1", caller, cleared)
        world.sandbox.remove("call-1", "agent-AJ_1")
        await world.settle()
        assert world.dispatches() == []
        assert dog.metrics.get("decisions", "no_checkpoint") == 1

    async def test_a_merged_call_that_ended(self, world: World) -> None:
        """Either side hung up: the job deletes the room, everyone leaves with it."""
        caller = world.call_with_agent()
        world.sandbox.world.set_attributes("call-1", caller, {"transfer.state": "merged"})
        dog = await world.watchdog()
        world.sandbox.world.delete_room("call-1")
        await world.settle()
        assert world.dispatches() == []
        assert dog.metrics.get("webhooks", "accepted") == 0

    async def test_the_agent_leaving_a_consult_room(self, world: World) -> None:
        """The supervisor's leg names the transfer too, but it is not a caller."""
        world.sandbox.world.join(
            "consult-abcdefghijkl",
            models.ParticipantInfo(
                identity="sup-1",
                kind=models.ParticipantInfo.Kind.SIP,
                attributes={"transfer.id": TRANSFER_ID, "transfer.role": "supervisor"},
            ),
        )
        world.sandbox.add_agent("consult-abcdefghijkl", "agent-AJ_1")
        await world.watchdog()
        world.sandbox.remove("consult-abcdefghijkl", "agent-AJ_1")
        await world.settle()
        assert world.dispatches() == []

    async def test_an_agent_reconnected_meanwhile(self, world: World) -> None:
        """The same agent back (or another one) before the claim is confirmed: no dispatch."""
        world.call_with_agent()
        dog = await world.watchdog(settle_seconds=2.0)
        world.sandbox.remove("call-1", "agent-AJ_1")
        await world.quiet()
        world.sandbox.add_agent("call-1", "agent-AJ_1")
        await world.settle()
        assert world.dispatches() == []
        assert dog.metrics.get("decisions", "agent_present") == 1

    async def test_a_non_agent_leaving(self, world: World) -> None:
        caller = world.call_with_agent()
        dog = await world.watchdog()
        world.sandbox.remove("call-1", caller)
        await world.settle()
        assert world.dispatches() == []
        assert dog.metrics.get("webhooks", "accepted") == 0


async def test_a_transfer_is_dispatched_at_most_max_times(world: World) -> None:
    """A merged call whose every replacement job dies: MAX_DISPATCHES dispatches, then the
    watchdog gives up on that transfer."""
    caller = world.call_with_agent()
    world.sandbox.world.set_attributes("call-1", caller, {"transfer.state": "merged"})
    dog = await world.watchdog()
    for n in range(1, MAX_DISPATCHES + 2):
        world.sandbox.remove("call-1", f"agent-AJ_{n}")
        await world.settle()
        world.sandbox.add_agent("call-1", f"agent-AJ_{n + 1}")
    assert len(world.dispatches()) == MAX_DISPATCHES
    assert dog.metrics.get("decisions", "gave_up") == 1


async def test_a_lost_answer_after_a_failed_list_does_not_dispatch_twice(world: World) -> None:
    """The first ListDispatch fails, then CreateDispatch's answer is lost: the list is asked
    again before the attempt, so the retry sees the dispatch, and the lost job's metadata
    is kept."""
    world.call_with_agent()
    state = world.sandbox.room("call-1")
    assert state is not None
    first = api.AgentDispatch(id="AD_first", agent_name=AGENT, room="call-1", metadata="m")
    state.dispatches[first.id] = first
    dog = await world.watchdog()
    world.sandbox.add_fault("AgentDispatchService.ListDispatch", "unavailable", times=1)
    world.sandbox.add_fault(
        "AgentDispatchService.CreateDispatch", "unavailable", lose_response=True
    )
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert world.calls("AgentDispatchService.CreateDispatch") == 1
    assert len(state.dispatches) == 2  # the first job's, and the one made
    made = [d for d in state.dispatches.values() if d.id != first.id]
    assert [d.metadata for d in made] == ["m"]
    assert dog.metrics.get("decisions", "dispatched") == 1


async def test_no_dispatch_while_the_dispatches_cannot_be_listed(world: World) -> None:
    """ListDispatch fails on every retry: no CreateDispatch (what exists is unknown), said
    and counted; a later sweep, the list answering again, dispatches once."""
    world.call_with_agent()
    dog = await world.watchdog()
    tries = len(DISPATCH_RETRIES_S) + 1
    world.sandbox.add_fault("AgentDispatchService.ListDispatch", "unavailable", times=tries)
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert world.calls("AgentDispatchService.ListDispatch") == tries
    assert world.calls("AgentDispatchService.CreateDispatch") == 0
    assert dog.metrics.get("decisions", "dispatch_undetermined") == 1
    await sweep(world)  # the claimed loss: give a dispatched agent until the next sweep
    assert world.dispatches() == []
    await sweep(world)
    assert len(world.dispatches()) == 1


async def test_a_lost_answer_then_a_failing_list_is_not_retried(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CreateDispatch's answer is lost, and from then on ListDispatch fails: whether the
    attempt landed is unknown, so it is not made again."""
    world.call_with_agent()
    dog = await world.watchdog()
    real = watchdog_module.create_dispatch

    async def then_list_fails(*args: Any) -> str:
        world.sandbox.add_fault("AgentDispatchService.ListDispatch", "unavailable", times=100)
        return await real(*args)

    monkeypatch.setattr(watchdog_module, "create_dispatch", then_list_fails)
    world.sandbox.add_fault(
        "AgentDispatchService.CreateDispatch", "unavailable", lose_response=True
    )
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert world.calls("AgentDispatchService.CreateDispatch") == 1
    state = world.sandbox.room("call-1")
    assert state is not None
    assert len(state.dispatches) == 1
    assert dog.metrics.get("decisions", "dispatch_undetermined") == 1


async def test_a_checkpoint_on_a_non_sip_participant_is_no_loss(world: World) -> None:
    """A browser participant (kind STANDARD) writes the checkpoint's attributes on itself:
    it is not the caller, and the agent leaving is not a loss."""
    world.sandbox.world.join(
        "call-1",
        models.ParticipantInfo(
            identity="web-1",
            kind=models.ParticipantInfo.Kind.STANDARD,
            attributes={"transfer.id": TRANSFER_ID, "transfer.state": "held"},
        ),
    )
    world.sandbox.add_agent("call-1", "agent-AJ_1")
    dog = await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    await sweep(world)
    assert world.dispatches() == []
    assert dog.metrics.get("decisions", "no_checkpoint") == 1
