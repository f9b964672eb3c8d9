"""JUnit XML for CI: one test case per scenario test, grouped in one suite per flow."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from orchestrator.errors import FlowError
from orchestrator.flowtests.runner import FlowTestResult

__all__ = ["junit_xml"]

_INVALID_SUITE = "invalid scenario tests"
# Characters XML 1.0 cannot carry at all; ElementTree would write them and readers refuse.
_NOT_XML = re.compile("[^\\t\\n\\r\\x20-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def junit_xml(
    results: Sequence[FlowTestResult],
    invalid: Sequence[tuple[Path, FlowError]] = (),
    seconds: dict[Path, float] | None = None,
) -> bytes:
    """The report as JUnit XML (UTF-8): a `<failure>` per failed test listing every
    expectation that did not hold; an `<error>` per file that could not be loaded."""
    seconds = seconds or {}
    root = ET.Element("testsuites", name="orchestrator test")
    suites: dict[str, ET.Element] = {}

    def suite(name: str) -> ET.Element:
        if name not in suites:
            suites[name] = ET.SubElement(root, "testsuite", name=name)
        return suites[name]

    for result in results:
        case = ET.SubElement(
            suite(str(result.flow_path)),
            "testcase",
            name=result.name,
            classname=result.flow_path.stem,
            file=str(result.path),
            time=f"{seconds.get(result.path, 0.0):.3f}",
        )
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=_text(result.failures[0]))
            failure.text = _text("\n".join(result.failures))
    for path, error in invalid:
        case = ET.SubElement(
            suite(_INVALID_SUITE), "testcase", name=path.stem, classname="invalid", file=str(path)
        )
        lines = [problem.render(error.source) for problem in error.problems]
        element = ET.SubElement(case, "error", message=_text(lines[0] if lines else str(error)))
        element.text = _text("\n".join(lines))
    total = failures = errors = 0
    for element in suites.values():
        cases = element.findall("testcase")
        failed = sum(1 for case in cases if case.find("failure") is not None)
        broken = sum(1 for case in cases if case.find("error") is not None)
        element.set("tests", str(len(cases)))
        element.set("failures", str(failed))
        element.set("errors", str(broken))
        total, failures, errors = total + len(cases), failures + failed, errors + broken
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"
