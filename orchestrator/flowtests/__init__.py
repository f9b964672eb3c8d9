"""Flow tests for designers: scenario files that name their flow and what must happen.

`discover` finds the scenario tests in files and folders, `load_flow_test` reads one (and
its flow) strictly, `run_flow_test` / `arun_flow_test` run it on the simulated clock, and
`coverage` says which steps and outcomes of a flow no test reached. `orchestrator test` is
the command line over these; `junit` writes JUnit XML.
"""

from orchestrator.flowtests.discover import discover
from orchestrator.flowtests.model import Expect, FlowTest, load_flow_test
from orchestrator.flowtests.runner import (
    FlowTestResult,
    arun_flow_test,
    coverage,
    run_flow_test,
)

__all__ = [
    "Expect",
    "FlowTest",
    "FlowTestResult",
    "arun_flow_test",
    "coverage",
    "discover",
    "load_flow_test",
    "run_flow_test",
]
