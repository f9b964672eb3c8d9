"""A closed stdout (`orchestrator simulate ... | head`) ends a command quietly, with exit 141.

141 is what a shell reports for a program killed by SIGPIPE (128 + 13), the POSIX convention
`yes | head` follows; Python ignores SIGPIPE (the sandbox's sockets need that), so the CLI
writes through `Stdout`, which notices the closed pipe instead of raising, sends what is left
to /dev/null (so nothing complains at exit) and lets `main` exit 141.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["CLOSED_PIPE_EXIT", "Stdout", "run_quietly_on_closed_pipe"]

CLOSED_PIPE_EXIT = 141


class Stdout:
    """A text stream over `stream` that swallows a closed pipe and remembers it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False
        self.on_broken: list[Callable[[], None]] = []

    def __getattr__(self, name: str) -> Any:  # encoding, errors, isatty, fileno, ...
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._closed()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._closed()

    def _closed(self) -> None:
        self.broken = True
        try:  # what is still buffered goes nowhere, quietly, at exit too
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # not a real file (a test's capture): nothing to silence
            pass
        for callback in self.on_broken:
            callback()


def run_quietly_on_closed_pipe(app: Callable[[], object]) -> None:
    """Run the CLI `app` with stdout watched; exit 141 if stdout was closed under it."""
    stdout = Stdout(sys.stdout)
    sys.stdout = stdout
    try:
        app()
    except SystemExit:
        if stdout.broken:
            raise SystemExit(CLOSED_PIPE_EXIT) from None
        raise
    except BrokenPipeError:  # written past the wrapper (a child's own handle)
        stdout._closed()
        raise SystemExit(CLOSED_PIPE_EXIT) from None
    if stdout.broken:
        raise SystemExit(CLOSED_PIPE_EXIT)
