"""The checks check: each invariant, broken on purpose, fails the case and shows in the
figures (restored afterwards, so these planted failures do not count in the report)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from livekit.protocol import room as room_pb

from tests.reliability.cases import fault, phones
from tests.reliability.figures import FIGURES
from tests.reliability.harness import CALLER, flow, warm
from tests.reliability.rig import Rig


@pytest.fixture
def planted() -> Iterator[None]:
    saved = dataclasses.replace(FIGURES)
    yield
    for field in dataclasses.fields(FIGURES):
        setattr(FIGURES, field.name, getattr(saved, field.name))


async def test_a_room_left_behind_is_a_leak(planted: None) -> None:
    async with Rig(phones({"answer": "busy"})) as rig:
        await rig.start(warm())
        await rig.finish()
        rig.sandbox.world.create_room(room_pb.CreateRoomRequest(name="consult-left-behind"))
        before = FIGURES.leaks_found
        with pytest.raises(AssertionError, match="INV-LEAK: room consult-left-behind"):
            rig.verify()
        assert FIGURES.leaks_found == before + 1
        rig.sandbox.world.delete_room("consult-left-behind")


async def test_two_live_legs_are_a_duplicate_dial(planted: None) -> None:
    async with Rig(phones({"answer": "busy"})) as rig:
        await rig.start(warm())
        await rig.finish()
        rig.monitor.max_live = 2  # as if a second leg had been live at one moment
        before = FIGURES.duplicate_dials
        with pytest.raises(AssertionError, match="INV-DIAL"):
            rig.verify()
        assert FIGURES.duplicate_dials == before + 1


REMOVE = "RoomService.RemoveParticipant"


async def test_two_answered_legs_kept_at_once_break_inv_dial(planted: None) -> None:
    """A ring group's two legs both answered (the cancel reached the other late): counted
    once both stay answered past that instant, unless the engine gave one up at once."""
    async with Rig({**phones({"answer": 2.0}), "faults": [fault(REMOVE, None, delay=0.5)]}) as rig:
        rig.monitor.release = lambda identity: None  # as if the engine kept both
        await rig.start(flow("ring_group"))
        await rig.finish()
        assert rig.monitor.max_answered == 2
        before = FIGURES.duplicate_dials
        with pytest.raises(AssertionError, match="2 answered at once"):
            rig.verify()
        assert FIGURES.duplicate_dials == before + 1


async def test_a_raw_number_in_a_log_is_a_pii_leak(planted: None) -> None:
    async with Rig(phones({"answer": "busy"})) as rig:
        await rig.start(warm())
        await rig.finish()
        rig.tap.entries.append({"event": "oops", "caller": CALLER})
        before = FIGURES.pii_leaks
        with pytest.raises(AssertionError, match="INV-LOG"):
            rig.verify()
        assert FIGURES.pii_leaks > before


async def test_a_hold_past_max_hold_is_an_overrun(planted: None) -> None:
    async with Rig(phones({"answer": "busy"})) as rig:
        transfer = await rig.start(warm(max_hold=10))
        await rig.finish()
        rig.media.windows[transfer.room] = [[0.0, 12.5]]
        with pytest.raises(AssertionError, match="INV-HOLD"):
            rig.verify()
        assert FIGURES.max_hold_overrun_s == 2.5


async def test_a_fault_case_that_fails_is_not_survived(planted: None) -> None:
    injected, survived = FIGURES.faults_injected, FIGURES.faults_survived

    async def case() -> None:
        async with Rig(phones({"answer": "busy"}), fault="planted") as rig:
            outcome = await rig.run(warm())
            assert outcome.kind == "merged"  # it is not: the case fails

    with pytest.raises(AssertionError):
        await case()
    assert (FIGURES.faults_injected, FIGURES.faults_survived) == (injected + 1, survived)
