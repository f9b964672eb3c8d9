"""The committed JSON Schema matches the models, and the shipped flows satisfy it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from orchestrator.flow.reader import read_yaml
from orchestrator.flow.schema import SCHEMA_PATH, flow_schema, flow_schema_text
from tests.conftest import ROOT


def test_committed_schema_is_not_stale() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == flow_schema_text(), (
        "orchestrator/schema/flow.schema.json is stale: run "
        "`orchestrator schema -o orchestrator/schema/flow.schema.json`"
    )


def test_schema_is_draft_07() -> None:
    schema = flow_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert "$defs" not in json.dumps(schema)


def test_shipped_flows_satisfy_the_schema(shipped_flow: Path) -> None:
    data = read_yaml(shipped_flow.read_bytes()).data
    jsonschema.Draft7Validator(flow_schema()).validate(data)


def test_shipped_flows_carry_the_editor_modeline(shipped_flow: Path) -> None:
    first = shipped_flow.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../orchestrator/schema/flow.schema.json"
    assert (shipped_flow.parent / first.split("=", 1)[1]).resolve() == SCHEMA_PATH


def test_schema_rejects_what_the_loader_rejects() -> None:
    """Editors flag the common mistakes too: unknown keys and unquoted numbers."""
    validator = jsonschema.Draft7Validator(flow_schema())
    flow = read_yaml((ROOT / "flows" / "warm_transfer.yaml").read_bytes()).data
    flow["steps"]["dial_supervisor"]["ringing_timout"] = 20
    flow["targets"]["on_call_supervisor"]["number"] = 15105550100
    assert len(list(validator.iter_errors(flow))) == 2
