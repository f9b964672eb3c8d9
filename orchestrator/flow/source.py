"""A flow file watched for changes: a designer's edit reaches a running worker.

`FlowSource.current()` is asked at the start of each transfer. It looks at the file's
modification time, size and inode (one `stat`, no read) and reads the file again only when
one of them changed. A new version is taken only if it is valid; otherwise the last valid
version stays in use and the problems are logged once per change of the file
(`flow.reload_failed`, each problem as `PATH:LINE:COL: message`, phone numbers masked).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import structlog

from orchestrator.errors import FlowError, Problem
from orchestrator.flow.loader import load_document, load_flow
from orchestrator.flow.model import Flow
from orchestrator.flow.reader import MAX_BYTES
from orchestrator.flow.version import flow_version
from orchestrator.logs import mask

__all__ = ["Check", "FlowSource"]

Where = tuple[str | int, ...]
Check = Callable[[Flow], list[tuple[Where, str]]]
"""More checks a new version must pass (the hold music files, say): each problem as where it
is in the flow (`("steps", "hold", "music")`) and what is wrong; [] when none."""
Stamp = tuple[int, int, int]

_log = structlog.get_logger("orchestrator.flow")


class FlowSource:
    """The last valid version of a flow file.

    Args:
        path: the flow file.
        check: more checks a version must pass to be used (none by default).

    Raises:
        FlowError: the file is invalid now (a worker must start with a valid flow).
    """

    def __init__(self, path: str | Path, *, check: Check | None = None) -> None:
        self.path = Path(path)
        self._check = check
        self._seen = _stamp(self.path)
        self.flow = load_flow(self.path)
        self.version = flow_version(self.flow)

    def current(self) -> Flow:
        """The flow to use now: the file's new version if it changed and is valid, else the
        last valid one."""
        stamp = _stamp(self.path)
        if stamp == self._seen:
            return self.flow
        loaded = self._load()
        if _stamp(self.path) != stamp:  # written while it was read: looked at again next time
            return self.flow
        self._seen = stamp  # a broken version is reported once, not at every transfer
        if isinstance(loaded, list):
            _log.warning(
                "flow.reload_failed",
                transfer_id="",
                flow=self.flow.name,
                file=mask(str(self.path)),
                problems=[mask(line) for line in loaded],
                flow_version=self.version,  # the version kept in use
            )
            return self.flow
        version = flow_version(loaded)
        if version != self.version:  # else touched, or only comments changed: the same flow
            _log.info(
                "flow.reloaded",
                transfer_id="",
                flow=loaded.name,
                file=mask(str(self.path)),
                flow_version=version,
                previous_flow_version=self.version,
            )
            self.flow, self.version = loaded, version
        return self.flow

    def _load(self) -> Flow | list[str]:
        """The file's flow, or its problems as `PATH:LINE:COL: message` lines."""
        label = str(self.path)
        try:
            with self.path.open("rb") as stream:  # never more than the reader accepts
                raw = stream.read(MAX_BYTES + 1)
        except OSError as error:
            reason = error.strerror or "unreadable"
            return [Problem(1, 1, f"cannot read the file: {reason}").render(label)]
        try:
            flow = load_flow(raw, label=label)
        except FlowError as error:
            return [problem.render(error.source) for problem in error.problems]
        found = self._check(flow) if self._check is not None else []
        if not found:
            return flow
        doc = load_document(raw, Flow, label=label)[1]
        return [Problem(*doc.position(where), what).render(label) for where, what in found]


def _stamp(path: Path) -> Stamp | None:
    """What tells a changed file apart without reading it; None when it cannot be seen."""
    try:
        seen = os.stat(path)
    except OSError:
        return None
    return (seen.st_mtime_ns, seen.st_size, seen.st_ino)
