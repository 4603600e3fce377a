"""WebSocket consumers, thin: authenticate, check permission, join groups, validate a frame
(`protocol`), call a service, reply. No ORM here. Who receives a stored event is decided in
realtime.py; ephemeral state (presence, typing, who is viewing) lives in presence.py and is
published from the consumers, because nothing is committed for it.
"""

from .agent import AgentConsumer
from .base import FORWARDED
from .visitor import VisitorConsumer

__all__ = ["FORWARDED", "AgentConsumer", "VisitorConsumer"]
