"""The names the studio answers to, by the address it listens on."""

from __future__ import annotations

import pytest

from orchestrator.studio import Guard, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("studio.example.com", False),
        ("localhost.evil.example", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_answers_to_its_names_on_its_port() -> None:
    assert Guard("127.0.0.1", 8765).hosts() == {
        "127.0.0.1:8765",
        "localhost:8765",
        "[::1]:8765",
    }


def test_ipv6_is_answered_in_brackets() -> None:
    assert "[::1]:8765" in Guard("::1", 8765).hosts()
    assert "[fd00::5]:8765" in Guard("fd00::5", 8765).hosts()


def test_port_80_may_be_left_out() -> None:
    assert {"127.0.0.1", "127.0.0.1:80"} <= Guard("127.0.0.1", 80).hosts()


def test_a_named_address_answers_to_that_name_only() -> None:
    assert Guard("192.168.1.5", 8765, token="t").hosts() == {"192.168.1.5:8765"}
