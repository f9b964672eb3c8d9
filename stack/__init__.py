"""The real LiveKit stack for end-to-end tests: `python -m stack build|up|down`."""
