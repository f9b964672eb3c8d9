"""The end-to-end suite's harness: phones, targets, workers, figures, and the `python -m`
tools (report, demo, negotiate). The tests themselves stay in `tests/e2e/`."""
