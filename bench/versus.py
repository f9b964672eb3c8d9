"""`cpu_ms_per_transfer` and `overhead_ratio` alone, for comparing two checkouts.

Runs only the part of `make bench` that gives these two figures (`bench_against_sandbox`,
after a warm-up as `make bench`'s earlier sections give), with the bench code of the checkout
it is run from, and prints one JSON line: the medians, the per-transfer values and the load
average. Run it from each checkout in turn, so that machine noise falls on both alike
(docs/performance.md, "Before and after the engine redesign"):

    for round in 1 2 3 4 5 6 7 8; do
      for dir in ../perf-base .; do
        (cd $dir && .venv/bin/python "$OLDPWD/bench/versus.py")
      done
    done
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys

# The bench and package of the checkout run from (not this file's folder, which a script
# gets first on its path: its bench.py would shadow the `bench` package).
sys.path[0] = os.getcwd()

RUNS = int(os.environ.get("BENCH_RUNS", "60"))


async def main() -> None:
    import structlog  # after the path is set: the checkout's own bench and package

    from bench import bench
    from orchestrator import configure_logging

    configure_logging(json=True)  # as `make bench`: rendered as JSON, thrown away
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(bench.DEVNULL))
    await bench.bench_transitions(100)  # warm-up
    load = os.getloadavg()[0]
    figures = await bench.bench_against_sandbox(bench.FAST, RUNS)
    print(
        json.dumps(
            {
                "checkout": os.getcwd(),
                "cpu_ms_per_transfer": round(statistics.median(figures["cpu"]), 3),
                "overhead_ratio": round(statistics.median(figures["ratio"]), 4),
                "straight_line_cpu_ms": round(statistics.median(figures["line_cpu"]), 3),
                "load": [round(load, 2), round(os.getloadavg()[0], 2)],
                "cpu": [round(value, 3) for value in figures["cpu"]],
                "ratio": [round(value, 4) for value in figures["ratio"]],
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
