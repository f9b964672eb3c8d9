"""The studio's scenario endpoints: a flow's scenario tests listed, run, and their timelines."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

Client = TestClient[object, object]


async def test_every_shipped_flow_lists_and_passes_its_scenarios(
    studio: Client, folder: Path
) -> None:
    flows = (await (await studio.get("/api/flows")).json())["flows"]
    assert flows
    for flow in flows:
        reply = await studio.get("/api/scenarios", params={"path": flow})
        assert reply.status == 200
        scenarios = (await reply.json())["scenarios"]
        assert scenarios, f"{flow} comes with scenario tests"
        assert all("error" not in s for s in scenarios), scenarios
        run = await studio.post(
            "/api/run", json={"scenarios": [s["path"] for s in scenarios], "flow": flow}
        )
        assert run.status == 200
        body = await run.json()
        results = body["results"]
        assert body["unreached"]["steps"] == [], "the shipped tests reach every step"
        assert isinstance(body["unreached"]["outcomes"], list)
        assert [r["path"] for r in results] == [s["path"] for s in scenarios]
        assert all(r["passed"] for r in results), [r["failures"] for r in results]
        assert all(r["timeline"] for r in results)


async def test_a_timeline_of_one_scenario(studio: Client) -> None:
    scenarios = (
        await (await studio.get("/api/scenarios", params={"path": "warm_transfer.yaml"})).json()
    )["scenarios"]
    reply = await studio.post("/api/timeline", json={"scenario": scenarios[0]["path"]})
    assert reply.status == 200
    body = await reply.json()
    assert body["path"] == scenarios[0]["path"]
    assert len(body["timeline"]) >= 2
    assert all(isinstance(line, str) for line in body["timeline"])


@pytest.mark.parametrize("name", ["../outside.yaml", "/etc/passwd", "x.txt"])
async def test_runs_only_scenarios_inside_the_folder(studio: Client, name: str) -> None:
    run = await studio.post("/api/run", json={"scenarios": [name]})
    timeline = await studio.post("/api/timeline", json={"scenario": name})
    assert (run.status, timeline.status) == (400, 400)


async def test_refuses_a_run_request_that_is_not_a_list(studio: Client) -> None:
    reply = await studio.post("/api/run", json={"scenarios": "all"})
    assert reply.status == 400
    assert "list" in (await reply.json())["error"]


async def test_a_scenario_the_flow_no_longer_fits_is_listed_with_its_problem(
    studio: Client, folder: Path
) -> None:
    flow = folder / "warm_transfer.yaml"
    flow.write_text(flow.read_text().replace("on_call_supervisor", "night_supervisor"))
    reply = await studio.get("/api/scenarios", params={"path": "warm_transfer.yaml"})
    broken = [s for s in (await reply.json())["scenarios"] if "error" in s]
    assert broken, "scenarios that dial on_call_supervisor no longer load"
    for scenario in broken:
        assert scenario["error"].startswith(scenario["path"] + ":")  # relative, positioned
        assert "on_call_supervisor" in scenario["error"]
        assert str(folder) not in scenario["error"]


async def test_a_run_names_the_steps_no_scenario_reached(studio: Client) -> None:
    scenarios = (
        await (await studio.get("/api/scenarios", params={"path": "warm_transfer.yaml"})).json()
    )["scenarios"]
    accepted = [s["path"] for s in scenarios if s.get("name") == "warm_accepted"]
    assert accepted
    run = await studio.post("/api/run", json={"scenarios": accepted, "flow": "warm_transfer.yaml"})
    body = await run.json()
    assert body["results"][0]["passed"] is True
    assert "return_to_agent" in body["unreached"]["steps"]
    assert "hold_caller" not in body["unreached"]["steps"]
    assert body["unreached"]["outcomes"]
