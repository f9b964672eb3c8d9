"""The studio's HTTP side: the page, its assets, and the JSON the page asks for.

    GET  /                       the page
    GET  /static/NAME            its scripts and styles (shipped in the package)
    GET  /api/flows              the flows in the folder
    GET  /api/flow?path=NAME     a flow's text and version
    POST /api/validate           {text, path?} -> {valid, problems, diagram} (with path, hold
                                 music checked next to that flow, or in --music-dir)
    POST /api/diagram            {text} -> {diagram} (Mermaid), or the problems
    POST /api/save               {path, text, version} -> {version}; 409 when changed on disk
    GET  /api/scenarios?path=NAME  the flow's scenario tests
    POST /api/run                {scenarios: [NAME...], flow?: NAME} -> PASS/FAIL, failures,
                                 timelines; with flow, its steps and outcomes none reached
    POST /api/timeline           {scenario: NAME} -> the scenario's timeline

The text the page sends is untrusted: it goes through the flow loader with its limits, and
no answer is ever a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from orchestrator.errors import FlowError, OrchestratorError, Problem
from orchestrator.flow import load_flow, render_graph
from orchestrator.flow.reader import MAX_BYTES
from orchestrator.studio.files import Conflict, FlowFolder, Refused
from orchestrator.studio.scenarios import Scenarios
from orchestrator.studio.security import Guard

__all__ = ["MAX_BODY", "STATIC", "studio_app"]

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 2 * MAX_BYTES + 4096
"""A flow at the loader's cap, JSON-escaped, fits; anything larger is refused (413)."""

_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".txt": "text/plain",
    ".png": "image/png",
}
_log = logging.getLogger(__name__)

FOLDER = web.AppKey("folder", FlowFolder)
SCENARIOS = web.AppKey("scenarios", Scenarios)
MUSIC: web.AppKey[Path | None] = web.AppKey("music")


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"line": p.line, "column": p.column, "message": p.message} for p in problems]


def check_text(text: str, label: str, music_dir: Path | None = None) -> dict[str, Any]:
    """Problems of a flow's text, and its Mermaid diagram when it has none; with `music_dir`,
    hold-music files missing from it are problems too (as `validate` checks them)."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        message = f"the flow is larger than {MAX_BYTES // 1024} KiB; split it"
        return {"valid": False, "problems": _problems([Problem(1, 1, message)])}
    try:
        flow = load_flow(
            text.encode("utf-8", "replace"),
            label=label,
            check_music=music_dir is not None,
            music_dir=music_dir,
        )
    except FlowError as error:
        return {"valid": False, "problems": _problems(error.problems)}
    except OrchestratorError as error:
        return {"valid": False, "problems": _problems([Problem(1, 1, str(error))])}
    except Exception:  # never a traceback on the page; the log has it for the maintainers
        _log.exception("studio.check_failed")
        message = "the studio could not check this text (a bug in the studio: please report it)"
        return {"valid": False, "problems": _problems([Problem(1, 1, message)])}
    try:
        diagram = render_graph(flow, "mermaid")
    except Exception:  # a valid flow the renderer cannot draw is a bug, not the designer's
        _log.exception("studio.diagram_failed")
        return {"valid": True, "problems": [], "diagram": None}
    return {"valid": True, "problems": [], "diagram": diagram}


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise Refused("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("the body is a JSON object")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise Refused(f"`{key}` must be text")
    return value


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except Refused as error:
        return web.json_response({"error": str(error)}, status=error.status)


async def _page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html"})


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": _TYPES[path.suffix]})


async def _flows(request: web.Request) -> web.StreamResponse:
    folder = request.app[FOLDER]
    return web.json_response({"folder": str(folder.root), "flows": folder.flows()})


async def _flow(request: web.Request) -> web.StreamResponse:
    file = request.app[FOLDER].read(request.query.get("path", ""))
    return web.json_response({"path": file.name, "text": file.text, "version": file.version})


def _music_dir(request: web.Request, name: object) -> Path | None:
    """Where the flow's hold music is looked for: `--music-dir`, or the flow file's folder."""
    if not isinstance(name, str):
        return None
    try:
        path = request.app[FOLDER].resolve(name)
    except Refused:
        return None
    return request.app[MUSIC] or path.parent


async def _validate(request: web.Request) -> web.StreamResponse:
    body = await _json(request)
    name = body.get("path")
    label = name if isinstance(name, str) else "<flow>"
    music = _music_dir(request, name)
    checked = await asyncio.to_thread(check_text, _text(body, "text"), label, music)
    return web.json_response(checked)


async def _diagram(request: web.Request) -> web.StreamResponse:
    checked = await asyncio.to_thread(check_text, _text(await _json(request), "text"), "<flow>")
    if not checked["valid"]:
        return web.json_response({"error": "the flow has problems", **checked}, status=422)
    return web.json_response({"diagram": checked["diagram"]})


async def _save(request: web.Request) -> web.StreamResponse:
    body = await _json(request)
    version = body.get("version")
    if version is not None and not isinstance(version, str):
        raise Refused("`version` must be the version the flow was opened at, or null")
    folder = request.app[FOLDER]
    try:
        saved = folder.save(_text(body, "path"), _text(body, "text"), version)
    except Conflict as conflict:
        message = (
            "the file changed on disk since you opened it: reload it (your text is kept "
            "on the page) or overwrite it"
        )
        return web.json_response({"error": message, "version": conflict.current}, status=409)
    except OSError as error:  # disk full, read-only folder: nothing was replaced
        reason = error.strerror or type(error).__name__
        return web.json_response({"error": f"cannot write the file: {reason}"}, status=500)
    return web.json_response({"version": saved})


async def _scenarios(request: web.Request) -> web.StreamResponse:
    path = request.app[FOLDER].resolve(request.query.get("path", ""))
    found = await asyncio.to_thread(request.app[SCENARIOS].of_flow, path)
    return web.json_response({"scenarios": found})


def _names(body: dict[str, Any]) -> list[str]:
    names = body.get("scenarios")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Refused("`scenarios` must be a list of scenario file names")
    if len(names) > 200:
        raise Refused("at most 200 scenarios per run")
    return names


async def _run(request: web.Request) -> web.StreamResponse:
    body = await _json(request)
    names = _names(body)
    flow = request.app[FOLDER].resolve(_text(body, "flow")) if "flow" in body else None
    try:
        results, unreached = await request.app[SCENARIOS].run(names, flow)
    except ValueError as error:
        raise Refused(str(error)) from None
    return web.json_response({"results": results, "unreached": unreached})


async def _timeline(request: web.Request) -> web.StreamResponse:
    name = _text(await _json(request), "scenario")
    try:
        result = await request.app[SCENARIOS].timeline(name)
    except ValueError as error:
        raise Refused(str(error)) from None
    return web.json_response(result)


def studio_app(folder: Path, guard: Guard, *, music_dir: Path | None = None) -> web.Application:
    """The studio for `folder`, behind `guard` (host, origin and token checks); hold music is
    looked for in `music_dir`, or next to each flow."""
    app = web.Application(middlewares=[guard.middleware, _errors], client_max_size=MAX_BODY)
    flows = FlowFolder(folder)
    app[FOLDER] = flows
    app[SCENARIOS] = Scenarios(flows.root)
    app[MUSIC] = music_dir
    app.router.add_get("/", _page)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/flows", _flows)
    app.router.add_get("/api/flow", _flow)
    app.router.add_post("/api/validate", _validate)
    app.router.add_post("/api/diagram", _diagram)
    app.router.add_post("/api/save", _save)
    app.router.add_get("/api/scenarios", _scenarios)
    app.router.add_post("/api/run", _run)
    app.router.add_post("/api/timeline", _timeline)
    return app
