"""The public surface is small and pinned; a change here is a deliberate API change."""

from __future__ import annotations

import pytest

import orchestrator
import orchestrator.flow


def test_top_level_exports() -> None:
    assert sorted(orchestrator.__all__) == [
        "Flow",
        "FlowError",
        "OrchestratorError",
        "Problem",
        "Transfer",
        "TransferEngine",
        "TransferError",
        "TransferInProgress",
        "TransferOutcome",
        "__version__",
        "compile_flow",
        "configure_logging",
        "load_flow",
    ]
    for name in orchestrator.__all__:
        assert hasattr(orchestrator, name)


def test_flow_package_exports() -> None:
    assert sorted(orchestrator.flow.__all__) == [
        "Flow",
        "compile_flow",
        "load_flow",
        "render_graph",
    ]


def test_version_comes_from_the_installed_metadata() -> None:
    assert orchestrator.__version__ == "0.1.0"


def test_flow_error_carries_positioned_problems() -> None:
    with pytest.raises(orchestrator.FlowError) as caught:
        orchestrator.load_flow("name: x\nsteps: {}\n")
    assert isinstance(caught.value, orchestrator.OrchestratorError)
    assert caught.value.source == "<flow>"
    assert [p.render(caught.value.source) for p in caught.value.problems] == [
        "<flow>:2:8: steps: must have at least 1 entry"
    ]
