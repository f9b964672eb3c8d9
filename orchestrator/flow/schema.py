"""The flow JSON Schema (draft-07, for editors), generated from the models.

yaml-language-server understands draft-07 best, so pydantic's `$defs` are moved under
`definitions`. The committed copy lives at `orchestrator/schema/flow.schema.json`; a test fails
when it differs from what the models generate (regenerate with `orchestrator schema`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.flow.model import Flow

__all__ = ["SCHEMA_ID", "SCHEMA_PATH", "flow_schema", "flow_schema_text"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "flow.schema.json"
SCHEMA_ID = "https://github.com/livekit-warm-transfer/orchestrator/schema/flow.schema.json"


def flow_schema() -> dict[str, Any]:
    body = Flow.model_json_schema(ref_template="#/definitions/{model}")
    definitions = body.pop("$defs", {})
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        **body,
        "definitions": definitions,
    }


def flow_schema_text() -> str:
    """The schema exactly as committed: indented, key order kept, newline at the end."""
    return json.dumps(flow_schema(), indent=2, ensure_ascii=False) + "\n"
