"""Where LiveKit is: a URL the client can call, and whether it is LiveKit Cloud."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["check_url", "is_cloud"]


def is_cloud(url: str) -> bool:
    """LiveKit Cloud, which dispatches lost jobs again by itself."""
    host = urlsplit(url).hostname or ""
    return host.endswith(".livekit.cloud") or (
        host.startswith("cloud-api.") and host.endswith(".livekit.io")
    )


def check_url(url: str) -> None:
    """Refuse a LiveKit URL the client could not call (each sweep would fail on it).

    Raises:
        ValueError: `url: <what is wrong and how to write it>`.
    """
    example = "like ws://127.0.0.1:7880 (an IPv6 host in brackets: ws://[::1]:7880)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:  # an unclosed [IPv6 bracket, a port not a number or too big
        raise ValueError(f"url: not a usable URL ({error}); write it {example}") from None
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ValueError(f"url: expected http(s):// or ws(s):// and a host, {example}")
    if port == 0:
        raise ValueError(f"url: the port must be from 1 to 65535, {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "url: no user or password in the URL; the key and secret go in "
            "LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
        )
