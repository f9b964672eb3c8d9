"""The studio's one door to flow tests (`orchestrator.flowtests`) and timelines
(`orchestrator.timeline`), imported when first used.

Scenario runs are synchronous and take the simulated clock, so they run in a thread, one at
a time: the page stays responsive while a run goes on.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from orchestrator.errors import FlowError, OrchestratorError

__all__ = ["NEEDS", "Scenarios", "Unavailable"]

NEEDS = "scenario tests need orchestrator.flowtests"


class Unavailable(Exception):
    """This install has no flow tests (the page says so instead of a list)."""


def _modules() -> tuple[ModuleType, ModuleType]:
    try:
        return (
            importlib.import_module("orchestrator.flowtests"),
            importlib.import_module("orchestrator.timeline"),
        )
    except ImportError:
        raise Unavailable(NEEDS) from None


def _problem_text(error: Exception) -> str:
    if isinstance(error, FlowError):
        return "; ".join(p.render(error.source) for p in error.problems)
    return str(error)


class Scenarios:
    """The scenario tests under the studio's folder, by the flow they name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = asyncio.Lock()

    def _name(self, path: Path) -> str:
        resolved = path.resolve()
        if resolved.is_relative_to(self.root):
            return resolved.relative_to(self.root).as_posix()
        return path.name

    def _inside(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not name.endswith((".yaml", ".yml")) or not path.is_relative_to(self.root):
            raise ValueError(f"{name!r}: not a scenario file inside the studio's folder")
        return path

    def of_flow(self, flow: Path) -> list[dict[str, Any]]:
        """Every scenario test under the folder that names `flow`; a scenario that cannot be
        loaded is listed with its problem (it may be this flow's)."""
        flowtests, _ = _modules()
        found: list[dict[str, Any]] = []
        for path in flowtests.discover([self.root]):
            path = Path(path)
            if not path.resolve().is_relative_to(self.root):
                continue
            try:
                test = flowtests.load_flow_test(path)
            except (OrchestratorError, OSError, ValueError) as error:
                found.append({"path": self._name(path), "error": _problem_text(error)})
                continue
            if Path(test.flow_path).resolve() == flow.resolve():
                found.append({"path": self._name(path), "name": str(test.name)})
        return found

    def _run_one(self, path: Path) -> dict[str, Any]:
        flowtests, timeline = _modules()
        try:
            test = flowtests.load_flow_test(path)
            result = flowtests.run_flow_test(test)
        except (OrchestratorError, OSError, ValueError) as error:
            return {
                "path": self._name(path),
                "name": path.stem,
                "passed": False,
                "failures": [_problem_text(error)],
                "timeline": [],
            }
        return {
            "path": self._name(path),
            "name": str(result.name),
            "passed": bool(result.passed),
            "failures": [str(f) for f in result.failures],
            "timeline": [str(line) for line in timeline.render(result.events)],
        }

    async def run(self, names: list[str]) -> list[dict[str, Any]]:
        """Run the named scenario files (relative to the folder), in a thread, one at a time."""
        _modules()
        paths = [self._inside(name) for name in names]
        results = []
        async with self._lock:
            for path in paths:
                results.append(await asyncio.to_thread(self._run_one, path))
        return results
