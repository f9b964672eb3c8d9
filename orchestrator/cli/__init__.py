"""The `orchestrator` command line (also `python -m orchestrator`)."""

from orchestrator.cli.app import app, main

__all__ = ["app", "main"]
