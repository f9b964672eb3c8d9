"""Checks on the code itself, run by `make test` and by hand (`python -m tools.<name>`)."""
