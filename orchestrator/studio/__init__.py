"""`orchestrator studio`: a local web page where designers edit, see and test their flows."""

from orchestrator.studio.security import Guard, is_loopback
from orchestrator.studio.server import studio_app

__all__ = ["Guard", "is_loopback", "studio_app"]
