"""A local LiveKit-API-compatible server: Twirp, protobuf/JSON, JWT grants, SIP, webhooks.

Layers: `twirp` (errors), `auth` (tokens and grants), `state` (rooms, participants, events),
`legs` (SIP calls and scripted phones), `rooms` / `sip` / `dispatch` (the three services),
`server` (HTTP routing, faults, recording), `webhooks`, `scenario` (the scenario file) and
`sandbox` (the facade). This package speaks LiveKit's wire protocol, so it imports
`livekit.protocol` and `livekit.api` (tokens), and nothing from the rest of the library
except the clock and the strict YAML reader.
"""

from orchestrator.sandbox.legs import PhoneLog
from orchestrator.sandbox.sandbox import Sandbox
from orchestrator.sandbox.scenario import Scenario, load_scenario
from orchestrator.sandbox.state import Event

__all__ = ["Event", "PhoneLog", "Sandbox", "Scenario", "load_scenario"]
