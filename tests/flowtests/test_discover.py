"""Which files `orchestrator test` takes as scenario tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.flowtests import discover
from tests.conftest import FLOWS, ROOT
from tests.flowtests.conftest import SHIPPED_TESTS


def test_a_folder_yields_files_with_a_top_level_flow_key(tmp_path: Path) -> None:
    for flow in FLOWS:
        shutil.copy(flow, tmp_path)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    test = "flow: ../warm_transfer.yaml\nexpect: {outcome: merged}\n"
    (tmp_path / "deep" / "b.yaml").write_text(test)
    (tmp_path / "deep" / "er" / "a.yml").write_text(test)
    (tmp_path / "deep" / "nested_key.yaml").write_text("caller:\n  flow: x\n")
    (tmp_path / "deep" / "notes.txt").write_text(test)
    (tmp_path / ".hidden" / "c.yaml").write_text(test)
    broken = tmp_path / "broken.yaml"
    broken.write_text('flow: ../x.yaml\nexpect: {said_to_caller: ["open\n')  # still found
    assert discover([tmp_path]) == [
        broken,
        tmp_path / "deep" / "b.yaml",
        tmp_path / "deep" / "er" / "a.yml",
    ]


def test_files_are_taken_as_given_once_each() -> None:
    warm = ROOT / "flows" / "warm_transfer.yaml"
    first = SHIPPED_TESTS / "warm_busy.yaml"
    found = discover([warm, first, SHIPPED_TESTS])
    assert found[:2] == [warm, first]
    assert found.count(first) == 1


def test_the_shipped_flows_folder_holds_only_the_tests_under_tests() -> None:
    found = discover([ROOT / "flows"])
    assert found
    assert {path.parent for path in found} == {SHIPPED_TESTS}
    assert not set(FLOWS) & set(found)
