"""The scenario tests shown in docs/testing-flows.md load and pass against the shipped flows."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from orchestrator.flowtests import load_flow_test, run_flow_test
from orchestrator.flowtests.discover import is_flow_test
from tests.conftest import FLOWS, ROOT

PAGE = ROOT / "docs" / "testing-flows.md"


def test_the_page_s_scenario_tests_pass(tmp_path: Path) -> None:
    for flow in FLOWS:
        shutil.copy(flow, tmp_path)
    (tmp_path / "tests").mkdir()
    blocks = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), re.DOTALL)
    written = []
    for index, block in enumerate(blocks):
        path = tmp_path / "tests" / f"doc_{index}.yaml"
        path.write_text(block)
        if is_flow_test(path):
            written.append(path)
    assert written, "the page shows no scenario test"
    for path in written:
        result = run_flow_test(load_flow_test(path))
        assert result.failures == [], path.read_text()
