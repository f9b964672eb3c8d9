"""The studio's one door to flow tests (`orchestrator.flowtests`) and timelines
(`orchestrator.timeline`).

Scenario runs are synchronous and take the simulated clock, so they run in a thread, one at
a time: the page stays responsive while a run goes on.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from orchestrator import flowtests
from orchestrator.errors import FlowError, OrchestratorError
from orchestrator.flow import load_flow
from orchestrator.flowtests import FlowTestResult
from orchestrator.timeline import render as render_timeline

__all__ = ["Scenarios"]

_log = logging.getLogger(__name__)


def _problem_text(error: Exception, root: Path) -> str:
    """The problems, each at `PATH:LINE:COL` with the path relative to the studio's folder."""
    if not isinstance(error, FlowError):
        return str(error)
    source = Path(error.source)
    if source.is_absolute() and source.resolve().is_relative_to(root):
        shown = source.resolve().relative_to(root).as_posix()
    else:
        shown = error.source
    return "; ".join(p.render(shown) for p in error.problems)


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
        found: list[dict[str, Any]] = []
        for path in flowtests.discover([self.root]):
            if not path.resolve().is_relative_to(self.root):
                continue
            try:
                test = flowtests.load_flow_test(path)
            except (OrchestratorError, OSError, ValueError) as error:
                found.append({"path": self._name(path), "error": _problem_text(error, self.root)})
                continue
            if test.flow_path.resolve() == flow.resolve():
                found.append({"path": self._name(path), "name": test.name})
        return found

    def _run_one(self, path: Path, raw: list[FlowTestResult]) -> dict[str, Any]:
        try:
            test = flowtests.load_flow_test(path)
            result = flowtests.run_flow_test(test)
            raw.append(result)
        except Exception as error:  # a FAIL with its reason on the page, never a traceback
            if not isinstance(error, (OrchestratorError, OSError, ValueError)):
                _log.exception("studio.scenario_failed")
            return {
                "path": self._name(path),
                "name": path.stem,
                "passed": False,
                "failures": [_problem_text(error, self.root)],
                "timeline": [],
            }
        return {
            "path": self._name(path),
            "name": result.name,
            "passed": result.passed,
            "failures": list(result.failures),
            "timeline": render_timeline(result.events),
        }

    async def timeline(self, name: str) -> dict[str, Any]:
        """One scenario run for its timeline."""
        [result], _ = await self.run([name])
        return result

    async def run(
        self, names: list[str], flow: Path | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, list[str]] | None]:
        """Run the named scenario files (relative to the folder), in a thread, one at a time;
        with `flow`, also the steps and outcomes of that flow no run reached."""
        paths = [self._inside(name) for name in names]
        results: list[dict[str, Any]] = []
        raw: list[FlowTestResult] = []
        async with self._lock:
            for path in paths:
                results.append(await asyncio.to_thread(self._run_one, path, raw))
        if flow is None:
            return results, None
        try:
            loaded = await asyncio.to_thread(load_flow, flow)
        except OrchestratorError:
            return results, None  # the saved flow has problems: the page shows them
        steps, outcomes = flowtests.coverage(loaded, raw)
        return results, {"steps": list(steps), "outcomes": list(outcomes)}
