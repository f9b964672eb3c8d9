"""`python -m stack build|up|down`: the targets behind `make stack-up` and `make stack-down`."""

from __future__ import annotations

import sys

from stack.build import ROOT, StackError, build
from stack.run import ENV_FILE, down, up

__all__ = ["main"]

USAGE = "usage: python -m stack build|up|down"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("build", "up", "down"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        if argv[0] == "down":
            stopped = down()
            print(f"stack: stopped {', '.join(stopped)}" if stopped else "stack: not running")
            return 0
        build()
        if argv[0] == "up":
            env = up()
            print(f"stack: ready; wrote {ENV_FILE.relative_to(ROOT)}")
            for key, value in env.items():
                print(f"{key}={value}")
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
