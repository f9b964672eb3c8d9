"""The studio's HTTP side: what it reads, checks and writes, and whom it answers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from orchestrator.flow.reader import MAX_BYTES
from orchestrator.studio import Guard
from orchestrator.studio.server import MAX_BODY, STATIC
from tests.studio.conftest import serve

Client = TestClient[object, object]


async def _open(studio: Client, name: str) -> dict[str, Any]:
    reply = await studio.get("/api/flow", params={"path": name})
    assert reply.status == 200, await reply.text()
    body: dict[str, Any] = await reply.json()
    return body


async def _save(studio: Client, name: str, text: str, version: str | None) -> Any:
    return await studio.post("/api/save", json={"path": name, "text": text, "version": version})


async def test_lists_flows_but_not_scenario_tests(studio: Client, folder: Path) -> None:
    (folder / "tests").mkdir(exist_ok=True)  # the shipped flows' scenario tests may be there
    (folder / "tests" / "busy.yaml").write_text("flow: ../warm_transfer.yaml\nexpect: {}\n")
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    (folder / "tests" / "broken_test.yaml").write_text("flow: x.yaml\nexpect: [unclosed\n")
    (folder / "notes.txt").write_text("not a flow")
    reply = await studio.get("/api/flows")
    assert reply.status == 200
    listed = (await reply.json())["flows"]
    assert listed == [
        "after_hours.yaml",
        "broken.yaml",
        "cold_transfer.yaml",
        "ring_group.yaml",
        "supervisor_chain.yaml",
        "warm_transfer.yaml",
    ]


async def test_opens_a_flow_with_its_text_and_version(studio: Client, folder: Path) -> None:
    opened = await _open(studio, "warm_transfer.yaml")
    assert opened["text"] == (folder / "warm_transfer.yaml").read_text()
    mtime, digest = opened["version"].split("-")
    assert int(mtime) == (folder / "warm_transfer.yaml").stat().st_mtime_ns
    assert len(digest) == 64


@pytest.mark.parametrize(
    "name",
    [
        "../outside.yaml",
        "sub/../../outside.yaml",
        "/tmp/outside.yaml",
        "C:/outside.yaml",
        "warm_transfer.yml",
        "warm_transfer.txt",
        "",
        "a\x00.yaml",
        ".git/hooks/x.yaml",
        "./warm_transfer.yaml",
        ".studio-x.yaml",
    ],
)
async def test_refuses_names_outside_the_folder_or_not_yaml(
    studio: Client, folder: Path, name: str
) -> None:
    outside = folder.parent / "outside.yaml"
    save = await _save(studio, name, "name: x\n", None)
    read = await studio.get("/api/flow", params={"path": name})
    assert save.status in (400, 403)
    assert read.status in (400, 403)
    assert "error" in await save.json()
    assert not outside.exists()


async def test_refuses_a_symlink_out_of_the_folder(studio: Client, folder: Path) -> None:
    secret = folder.parent / "secret.yaml"
    secret.write_text("name: secret\n")
    (folder / "link.yaml").symlink_to(secret)
    read = await studio.get("/api/flow", params={"path": "link.yaml"})
    save = await _save(studio, "link.yaml", "name: changed\n", None)
    assert (read.status, save.status) == (403, 403)
    assert secret.read_text() == "name: secret\n"
    listed = (await (await studio.get("/api/flows")).json())["flows"]
    assert "link.yaml" not in listed


async def test_refuses_a_symlinked_folder_out_of_the_folder(
    studio: Client, folder: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "sub").symlink_to(elsewhere, target_is_directory=True)
    save = await _save(studio, "sub/new.yaml", "name: x\n", None)
    assert save.status == 403
    assert list(elsewhere.iterdir()) == []


async def test_refuses_another_origin(studio: Client) -> None:
    evil = await studio.post(
        "/api/validate", json={"text": "name: x\n"}, headers={"Origin": "http://evil.example"}
    )
    cross = await studio.get("/api/flows", headers={"Sec-Fetch-Site": "cross-site"})
    same = await studio.post(
        "/api/validate",
        json={"text": "name: x\n"},
        headers={"Origin": f"http://127.0.0.1:{studio.port}"},
    )
    assert (evil.status, cross.status, same.status) == (403, 403, 200)


async def test_refuses_another_host_dns_rebinding(studio: Client) -> None:
    rebound = await studio.get("/api/flows", headers={"Host": f"evil.example:{studio.port}"})
    local = await studio.get("/api/flows", headers={"Host": f"localhost:{studio.port}"})
    assert rebound.status == 421
    assert local.status == 200


async def test_refuses_a_save_that_is_not_json(studio: Client, folder: Path) -> None:
    before = (folder / "warm_transfer.yaml").read_text()
    reply = await studio.post(
        "/api/save", data={"path": "warm_transfer.yaml", "text": "x"}
    )  # a cross-site form could send this one
    assert reply.status == 415
    assert (folder / "warm_transfer.yaml").read_text() == before


async def test_remote_studio_needs_its_token(folder: Path) -> None:
    guard = Guard("0.0.0.0", 0, token="the-token-printed-once")
    client = await serve(folder, guard)
    try:
        bare = await client.get("/api/flows")
        wrong = await client.get("/api/flows", headers={"X-Studio-Token": "guess"})
        header = await client.get("/api/flows", headers={"X-Studio-Token": guard.token or ""})
        page = await client.get("/")
        bad_login = await client.get("/", params={"token": "guess"}, allow_redirects=False)
        login = await client.get(
            "/", params={"token": "the-token-printed-once"}, allow_redirects=False
        )
        cookie = login.cookies["studio_token"]
        assert (bare.status, wrong.status, header.status, page.status) == (401, 401, 200, 401)
        assert bad_login.status == 401
        assert login.status == 303
        assert login.headers["Location"] == "/"
        assert cookie.value == "the-token-printed-once"
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        after = await client.get("/api/flows")  # the client keeps the cookie
        assert after.status == 200
    finally:
        await client.close()


async def test_saves_and_the_next_open_sees_it(studio: Client, folder: Path) -> None:
    opened = await _open(studio, "warm_transfer.yaml")
    edited = opened["text"].replace("max_hold: 120", "max_hold: 90")
    reply = await _save(studio, "warm_transfer.yaml", edited, opened["version"])
    assert reply.status == 200
    assert (folder / "warm_transfer.yaml").read_text() == edited
    reopened = await _open(studio, "warm_transfer.yaml")
    assert reopened["version"] == (await reply.json())["version"] != opened["version"]
    assert [n for n in os.listdir(folder) if n.startswith(".studio-")] == []


async def test_creates_a_new_flow_only_when_none_is_there(studio: Client, folder: Path) -> None:
    created = await _save(studio, "new_flow.yaml", "name: new\n", None)
    again = await _save(studio, "new_flow.yaml", "name: other\n", None)
    assert (created.status, again.status) == (200, 409)
    assert (folder / "new_flow.yaml").read_text() == "name: new\n"


async def test_a_file_changed_on_disk_is_a_conflict(studio: Client, folder: Path) -> None:
    opened = await _open(studio, "warm_transfer.yaml")
    theirs = opened["text"] + "# a colleague's edit\n"
    (folder / "warm_transfer.yaml").write_text(theirs)
    mine = opened["text"].replace("max_hold: 120", "max_hold: 60")
    conflict = await _save(studio, "warm_transfer.yaml", mine, opened["version"])
    assert conflict.status == 409
    body = await conflict.json()
    assert "changed on disk" in body["error"]
    assert (folder / "warm_transfer.yaml").read_text() == theirs
    # Overwrite: the page saves again against the version on disk now.
    forced = await _save(studio, "warm_transfer.yaml", mine, body["version"])
    assert forced.status == 200
    assert (folder / "warm_transfer.yaml").read_text() == mine


async def test_a_failed_write_leaves_the_file_whole(
    studio: Client, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = await _open(studio, "warm_transfer.yaml")
    before = sorted(os.listdir(folder))

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    reply = await _save(studio, "warm_transfer.yaml", "name: half\n" * 1000, opened["version"])
    assert reply.status == 500
    assert "No space left on device" in (await reply.json())["error"]
    assert (folder / "warm_transfer.yaml").read_text() == opened["text"]
    assert sorted(os.listdir(folder)) == before  # no temporary file left behind


async def test_refuses_big_bodies(studio: Client, folder: Path) -> None:
    huge = await studio.post("/api/validate", json={"text": "#" * (MAX_BODY + 10)})
    opened = await _open(studio, "warm_transfer.yaml")
    too_big = "#" * (MAX_BYTES + 1)
    save = await _save(studio, "warm_transfer.yaml", too_big, opened["version"])
    check = await studio.post("/api/validate", json={"text": too_big})
    assert (huge.status, save.status, check.status) == (413, 413, 200)
    assert "larger than 256 KiB" in (await check.json())["problems"][0]["message"]
    assert (folder / "warm_transfer.yaml").read_text() == opened["text"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: x\nsteps: [\n", 2),
        ("- just\n- a list\n", 1),
        ("", 1),
        ("name: x\nsay: 'open quote\n", 2),
        ("a: " + "[" * 64 + "\n", 1),
        ("name: x\n\xff\xfe: \x00\n", 1),
    ],
)
async def test_bad_yaml_gives_problems_not_a_server_error(
    studio: Client, text: str, line: int
) -> None:
    reply = await studio.post("/api/validate", json={"path": "x.yaml", "text": text})
    assert reply.status == 200
    body = await reply.json()
    assert body["valid"] is False
    assert body["problems"]
    assert all({"line", "column", "message"} <= set(p) for p in body["problems"])
    assert body["problems"][0]["line"] >= line


async def test_a_valid_flow_gets_its_diagram(studio: Client, folder: Path) -> None:
    text = (folder / "warm_transfer.yaml").read_text().replace("dial_supervisor", "ring_boss")
    checked = await (await studio.post("/api/validate", json={"text": text})).json()
    drawn = await studio.post("/api/diagram", json={"text": text})
    refused = await studio.post("/api/diagram", json={"text": "name: x\n"})
    assert checked["valid"] is True
    assert checked["problems"] == []
    assert "ring_boss" in checked["diagram"]
    assert checked["diagram"].startswith(("stateDiagram", "flowchart", "graph", "%%"))
    assert (await drawn.json())["diagram"] == checked["diagram"]
    assert refused.status == 422


async def test_problems_are_positioned_at_their_line(studio: Client, folder: Path) -> None:
    text = (
        (folder / "warm_transfer.yaml").read_text().replace("ring_timeout: 25", "ring_timout: 25")
    )
    line = text.splitlines().index("    ring_timout: 25") + 1
    body = await (await studio.post("/api/validate", json={"text": text})).json()
    assert body["valid"] is False
    assert [p["line"] for p in body["problems"]] == [line]
    assert "ring_timeout" in body["problems"][0]["message"]


async def test_the_page_cannot_run_what_it_shows(studio: Client) -> None:
    """Escaping: no inline script, a policy that forbids one, and text set as text only."""
    page = await studio.get("/")
    html = await page.text()
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "<script>" not in html  # every script is a file of the studio's own
    script = (STATIC / "app.js").read_text()
    assert ".innerHTML" not in script
    assert ".outerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert 'securityLevel: "strict"' in script
    text = 'name: x\nsteps:\n  s:\n    type: hold\n    say: "<script>alert(1)</script>"\n'
    reply = await studio.post("/api/validate", json={"text": text})
    assert reply.content_type == "application/json"


async def test_serves_only_its_own_assets(studio: Client) -> None:
    app = await studio.get("/static/app.js")
    editor = await studio.get("/static/editor.bundle.js")
    mermaid = await studio.get("/static/mermaid.min.js")
    assert (app.status, editor.status, mermaid.status) == (200, 200, 200)
    assert app.content_type == "text/javascript"
    for name in ("../server.py", "..%2Fserver.py", ".hidden.js", "nothing.js", "files.py"):
        assert (await studio.get(f"/static/{name}")).status == 404


async def test_a_bug_in_the_checks_is_a_problem_not_a_traceback(
    studio: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.studio.server as server

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server, "load_flow", broken)
    reply = await studio.post("/api/validate", json={"text": "name: x\n"})
    assert reply.status == 200
    body = await reply.json()
    assert body["valid"] is False
    assert "could not check" in body["problems"][0]["message"]
    assert "Traceback" not in await reply.text()


async def test_hold_music_is_looked_for_next_to_the_flow(studio: Client, folder: Path) -> None:
    text = (folder / "warm_transfer.yaml").read_text().replace("music: builtin", "music: jazz.mp3")
    line = text.splitlines().index("    music: jazz.mp3") + 1
    missing = await (
        await studio.post("/api/validate", json={"path": "warm_transfer.yaml", "text": text})
    ).json()
    (folder / "jazz.mp3").write_bytes(b"ID3")
    present = await (
        await studio.post("/api/validate", json={"path": "warm_transfer.yaml", "text": text})
    ).json()
    assert [p["line"] for p in missing["problems"]] == [line]
    assert "jazz.mp3" in missing["problems"][0]["message"]
    assert present["valid"] is True
