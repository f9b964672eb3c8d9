"""The sweep: losses whose webhook never came (the watchdog was down, or it was lost)."""

from __future__ import annotations

import asyncio

from orchestrator.watchdog.decide import CLAIM_KEY, Claim
from tests.watchdog.conftest import World


async def sweep(world: World, dog_index: int = -1) -> None:
    """Run one sweep to the end on the manual clock."""
    task = asyncio.ensure_future(world.watchdogs[dog_index].sweep())
    while not task.done():
        await world.quiet()
        if not task.done():
            await world.clock.advance(0.25)
    await task
    await world.settle()


async def test_a_loss_missed_while_down_is_found_at_start(world: World) -> None:
    """The agent left while no watchdog ran; the one started later dispatches, once, and
    leaves alone the rooms with an agent or without a checkpoint."""
    world.call_with_agent("call-1", "agent-AJ_1")
    world.call_with_agent("call-2", "agent-AJ_2")  # still has its agent
    world.sandbox.place_caller("call-3")  # no transfer
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.quiet()
    dog = await world.watchdog(relay=False, sweep=True)
    await world.settle()
    assert [d["room"] for d in world.dispatches()] == ["call-1"]
    assert dog.metrics.get("sweeps") == 1
    await world.clock.advance(dog.sweep_seconds)  # the next sweep: nothing new
    await world.settle()
    assert len(world.dispatches()) == 1


async def test_a_dispatched_agent_that_never_came_is_dispatched_again(world: World) -> None:
    """A claimed loss still without an agent at two sweeps in a row: a second dispatch (the
    first found no worker); never before a full sweep period has passed."""
    world.call_with_agent()
    dog = await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    assert len(world.dispatches()) == 1
    await sweep(world)  # right after: the dispatched agent may be on its way
    assert len(world.dispatches()) == 1
    await sweep(world)
    assert len(world.dispatches()) == 2
    caller = next(iter(world.sandbox.room("call-1").members.values()))  # type: ignore[union-attr]
    claim = Claim.parse(caller.info.attributes[CLAIM_KEY])
    assert claim is not None
    assert (claim.generation, claim.loss, claim.watchdog) == (2, "sweep-2", dog.id)


async def test_a_webhook_during_the_sweeps_wait_wins(world: World) -> None:
    """The sweep sees the room before the webhook is handled: one dispatch, by the webhook."""
    world.call_with_agent()
    dog = await world.watchdog(relay=False)
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.quiet()
    task = asyncio.ensure_future(dog.sweep())
    await world.quiet()  # the sweep found the loss and waits before acting
    [lost] = world.relay.left("agent-AJ_1")
    await world.post(dog, lost.body, lost.auth)
    while not task.done():
        await world.quiet()
        await world.clock.advance(0.25)
    await world.settle()
    assert len(world.dispatches()) == 1
    assert dog.metrics.get("decisions", "handled") == 1


async def test_sweeps_by_two_watchdogs_dispatch_once(world: World) -> None:
    world.call_with_agent()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.quiet()
    await world.watchdog(relay=False, sweep=True)
    await world.watchdog(relay=False, sweep=True)
    await world.settle()
    assert len(world.dispatches()) == 1


async def test_a_failing_sweep_is_counted_and_tried_again(world: World) -> None:
    world.call_with_agent()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.quiet()
    world.sandbox.add_fault("RoomService.ListRooms", "unavailable")
    dog = await world.watchdog(relay=False, sweep=True)
    await world.settle()
    assert dog.metrics.get("errors", "sweep") == 1
    assert world.dispatches() == []
    await world.clock.advance(dog.sweep_seconds)
    await world.settle()
    assert len(world.dispatches()) == 1


async def test_a_claim_is_removed_once_its_checkpoint_is_gone(world: World) -> None:
    """While the checkpoint stays (a merged call), so does the claim; once recovery cleared
    the checkpoint, the next sweep takes the claim off the caller."""
    caller = world.call_with_agent()
    world.sandbox.world.set_attributes("call-1", caller, {"transfer.state": "merged"})
    await world.watchdog()
    world.sandbox.remove("call-1", "agent-AJ_1")
    await world.settle()
    world.sandbox.add_agent("call-1", "agent-AJ_2")
    await sweep(world)
    member = world.sandbox.world.member("call-1", caller)
    assert member is not None
    assert CLAIM_KEY in member.info.attributes
    world.sandbox.world.set_attributes("call-1", caller, {"transfer.id": "", "transfer.state": ""})
    await sweep(world)
    assert CLAIM_KEY not in member.info.attributes
    assert len(world.dispatches()) == 1
