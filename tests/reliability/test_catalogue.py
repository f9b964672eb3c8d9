"""The fault catalogue (reference/reliability.md section 4, A1-K2), case by case: where
each one is tested, or why it cannot apply. The test checks the map is complete and that
each case's label really is in the module that claims it.

Cannot apply, and why:

* B7 (unverified caller ID under `require_verstat: A`): flows have no STIR/SHAKEN policy;
  the engine presents the caller's number only when it is strict E.164 and the designer chose
  `caller_id.mode: preserve`.
* D1, D2 (the worker killed in each state; a crash right after the merge) are covered by
  tests/engine/test_recovery.py (`TransferEngine.recover` from the caller room's checkpoint).
* D6 (a wall-clock jump): nothing in the engine reads the wall clock for timing (checked
  statically); the JWT library's clock cannot be moved without patching the interpreter.
* I11 (passthrough without an acknowledgement flag): preserving the caller's number is the
  explicit opt-in `caller_id.mode: preserve`; the default is the business number.
* K1 for the worker's consult-room token is tested with the worker integration; the tokens
  on the engine's API calls are minted per request by `livekit-api` (6 h TTL, not ours).
* K2 with a pre-signed token and no secret: the engine takes an API key and secret only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
NOT_HERE = "see the module docstring"

CATALOGUE: dict[str, tuple[str, str]] = {
    "A1": ("test_faults_supervisor.py", '"A1-'),
    "A2": ("test_faults_supervisor.py", '"A2-'),
    "A3": ("test_faults_supervisor.py", '"A3-'),
    "A4": ("test_faults_supervisor.py", '"A4-'),
    "A5": ("test_faults_supervisor.py", '"A5-'),
    "A6": ("test_faults_supervisor.py", '"A6-'),
    "A7": ("test_faults_supervisor.py", '"A7-'),
    "A8": ("test_faults_replay.py", "A8"),
    "A9": ("test_faults_supervisor.py", '"A9-'),
    "A10": ("test_faults_supervisor.py", "A10-"),
    "A11": ("test_faults_supervisor.py", '"A11-'),
    "A12": ("test_faults_supervisor.py", "A12-"),
    "A13": ("test_faults_supervisor.py", '"A13-'),
    "A14": ("test_faults_replay.py", "A14-"),
    "B1": ("test_faults_caller_and_merge.py", '"B1-'),
    "B2": ("test_faults_caller_and_merge.py", '"B2-'),
    "B3": ("test_faults_caller_and_merge.py", '"B3-'),
    "B4": ("test_faults_caller_and_merge.py", '"B4-'),
    "B5": ("test_faults_caller_and_merge.py", "B5-"),
    "B6": ("test_bad_inputs_runtime.py", '"anonymous"'),
    "B7": ("", NOT_HERE),
    "B8": ("test_bad_inputs_runtime.py", '"crlf-injection"'),
    "C1": ("test_faults_caller_and_merge.py", '"C1-'),
    "C2": ("test_faults_caller_and_merge.py", "C2-"),
    "C3": ("test_least_privilege.py", '"destinationRoom"'),
    "C4": ("test_faults_caller_and_merge.py", "C4-"),
    "C5": ("test_faults_caller_and_merge.py", "C5-"),
    "C6": ("test_faults_caller_and_merge.py", "C6-"),
    "D1": ("", NOT_HERE),
    "D2": ("", NOT_HERE),
    "D3": ("test_faults_cancel.py", "D3-"),
    "D4": ("test_faults_cancel.py", "D4-"),
    "D5": ("test_faults_cancel.py", "D5-"),
    "D6": ("test_faults_cancel.py", "test_the_engine_times_nothing_by_the_wall_clock"),
    "E1": ("test_faults_events.py", '"E1-'),
    "E2": ("test_faults_events.py", '"E2-'),
    "E3": ("test_faults_events.py", "E3-"),
    "E4": ("test_faults_events.py", "E4-"),
    "F1": ("test_faults_events.py", "F1-"),
    "F2": ("test_faults_events.py", "F2-"),
    "F3": ("test_faults_events.py", "F3-"),
    "G1": ("test_faults_events.py", '"G1-'),
    "G2": ("test_faults_events.py", '"G2-'),
    "H1": ("test_bad_inputs_flows.py", '"number-crlf-header"'),
    "H2": ("test_bad_inputs_flows.py", '"header-value-crlf"'),
    "H3": ("test_bad_inputs_flows.py", '"number-zero-width"'),
    "H4": ("test_bad_inputs_flows.py", '"number-letter-O"'),
    "H5": ("test_bad_inputs_flows.py", '"number-extension"'),
    "H6": ("test_bad_inputs_flows.py", '"number-16-digits"'),
    "H7": ("test_bad_inputs_flows.py", '"number-sip-uri"'),
    "H8": ("test_bad_inputs_flows.py", '"dtmf-semicolon"'),
    "H9": ("test_bad_inputs_flows.py", '"display-name-129-chars"'),
    "I1": ("test_bad_inputs_flows.py", '"number-unquoted"'),
    "I2": ("test_bad_inputs_flows.py", '"max-hold-sexagesimal"'),
    "I3": ("test_bad_inputs_flows.py", '"duplicate-key"'),
    "I4": ("test_bad_inputs_flows.py", '"alias-bomb"'),
    "I5": ("test_bad_inputs_flows.py", '"python-tag"'),
    "I6": ("test_bad_inputs_flows.py", '"deep-nesting"'),
    "I7": ("test_bad_inputs_flows.py", '"typo-key"'),
    "I8": ("test_bad_inputs_flows.py", '"unreachable-step"'),
    "I9": ("test_bad_inputs_flows.py", '"retries-1e9"'),
    "I10": ("test_bad_inputs_flows.py", '"not-utf8"'),
    "I11": ("", NOT_HERE),
    "L1": ("test_pii.py", "L1-"),
    "L2": ("test_pii.py", "test_an_exception_logged_by_the_application_shows_no_secret"),
    "L3": ("test_pii.py", "L3-"),
    "L4": ("test_bad_inputs_flows.py", "the message repeats the hostile value"),
    "K1": ("test_least_privilege.py", "test_api_calls_ask_only_for_the_grants_they_need"),
    "K2": ("test_least_privilege.py", "K2-"),
}


def test_every_catalogue_case_is_mapped() -> None:
    letters = {"A": 14, "B": 8, "C": 6, "D": 6, "E": 4, "F": 3, "G": 2, "H": 9, "I": 11}
    expected = {f"{k}{n}" for k, count in letters.items() for n in range(1, count + 1)}
    expected |= {"L1", "L2", "L3", "L4", "K1", "K2"}
    assert set(CATALOGUE) == expected


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_catalogue_case_is_where_the_map_says(case: str) -> None:
    module, label = CATALOGUE[case]
    if not module:
        assert f"* {case}" in (__doc__ or "") or f", {case} " in (__doc__ or "")
        return
    assert label in (HERE / module).read_text(encoding="utf-8"), (case, module, label)
