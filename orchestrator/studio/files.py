"""The studio's folder of flows: which files it lists, reads and writes, and how it saves.

Every name the page sends is resolved (symlinks followed) and must land inside the folder and
end in `.yaml`; anything else is refused before a file is opened. A save is atomic (a temporary
file in the same folder, then `os.replace`) and refused when the file on disk is no longer the
version the editor opened, so two edits never silently overwrite each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.flow.reader import MAX_BYTES

__all__ = ["Conflict", "FlowFile", "FlowFolder", "Refused"]


class Refused(Exception):
    """A name or a text the studio will not touch; the message says why and what to do."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Conflict(Exception):
    """The file changed on disk since the editor opened it."""

    def __init__(self, current: str | None) -> None:
        super().__init__("the file changed on disk since you opened it")
        self.current = current


@dataclass(frozen=True, slots=True)
class FlowFile:
    name: str
    """The path relative to the folder, with `/` separators, as the page shows it."""
    text: str
    version: str
    """`MTIME_NS-SHA256` of what is on disk; the page sends it back with a save."""


def _version(raw: bytes, mtime_ns: int) -> str:
    return f"{mtime_ns}-{hashlib.sha256(raw).hexdigest()}"


# A scenario test names its flow with a top-level `flow:` key, a flow never has one; found
# as `orchestrator test` finds them (a key at column 0), so a scenario with a YAML mistake is
# still a scenario, and a flow with one is still a flow to open and fix.
_SCENARIO = re.compile(rb"^(?:flow|'flow'|\"flow\")[ \t]*:", re.MULTILINE)


def _is_scenario(raw: bytes) -> bool:
    return _SCENARIO.search(raw) is not None


class FlowFolder:
    """The folder the studio serves (`orchestrator studio DIR`)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve(strict=True)
        if not self.root.is_dir():
            raise NotADirectoryError(str(root))

    def resolve(self, name: str) -> Path:
        """The file `name` (relative to the folder) names, or `Refused`."""
        if not name or "\x00" in name or len(name) > 1024:
            raise Refused("name a flow file inside the studio's folder, like warm_transfer.yaml")
        if name.startswith(("/", "\\")) or Path(name).is_absolute() or ":" in name:
            raise Refused(f"{name!r}: give a path relative to the studio's folder")
        if not name.endswith(".yaml"):
            raise Refused(f"{name!r}: flow files end in .yaml")
        parts = name.replace("\\", "/").split("/")
        if ".." in parts:
            raise Refused(f"{name!r}: outside the studio's folder ({self.root})", status=403)
        if any(part.startswith(".") for part in parts):
            raise Refused(f"{name!r}: hidden files and folders (like .git) are not flows")
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root):
            raise Refused(f"{name!r}: outside the studio's folder ({self.root})", status=403)
        return path

    def _name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def flows(self) -> list[str]:
        """The `.yaml` files under the folder that are flows (scenario tests left out)."""
        names = []
        for path in sorted(self.root.rglob("*.yaml")):
            resolved = path.resolve()
            if not resolved.is_file() or not resolved.is_relative_to(self.root):
                continue  # a symlink out of the folder is not listed (nor served)
            if any(part.startswith(".") for part in path.relative_to(self.root).parts):
                continue
            raw = _read(resolved)
            if raw is not None and not _is_scenario(raw):
                names.append(path.relative_to(self.root).as_posix())
        return names

    def read(self, name: str) -> FlowFile:
        path = self.resolve(name)
        if not path.is_file():
            raise Refused(f"{name!r}: no such flow in the studio's folder", status=404)
        stat = path.stat()
        raw = _read(path)
        if raw is None:
            raise Refused(f"{name!r}: larger than {MAX_BYTES // 1024} KiB", status=413)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(f"{name!r}: not UTF-8 text", status=415) from None
        return FlowFile(name, text, _version(raw, stat.st_mtime_ns))

    def version(self, name: str) -> str | None:
        """The version on disk now, or None when there is no such file."""
        path = self.resolve(name)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        raw = _read(path)
        return _version(raw or b"", stat.st_mtime_ns)

    def save(self, name: str, text: str, opened: str | None) -> str:
        """Write `text` to `name` atomically; `opened` is the version the editor started from
        (None for a new file). Raises `Conflict` when the file on disk is another version."""
        path = self.resolve(name)
        raw = text.encode("utf-8")
        if len(raw) > MAX_BYTES:
            raise Refused(f"a flow is at most {MAX_BYTES // 1024} KiB", status=413)
        if not path.parent.is_dir():
            raise Refused(f"{name!r}: its folder does not exist", status=404)
        current = self.version(name)
        if current != opened:
            raise Conflict(current)
        handle, temporary = tempfile.mkstemp(prefix=".studio-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(raw)
                stream.flush()
                os.fsync(stream.fileno())
            if current is not None:
                with contextlib.suppress(OSError):  # keep the file's permissions
                    os.chmod(temporary, path.stat().st_mode & 0o7777)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return _version(raw, path.stat().st_mtime_ns)


def _read(path: Path) -> bytes | None:
    """At most the loader's cap; None when the file is larger (or unreadable)."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError:
        return None
    return raw if len(raw) <= MAX_BYTES else None
