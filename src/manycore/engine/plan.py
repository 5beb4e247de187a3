"""What every worker is given: the plan the main context prepares before any starts."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from types import ModuleType

from .. import stats
from ..registry import Hook, Registration

__all__ = ["Plan"]


@dataclass
class Plan:
    """Everything a worker needs, prepared in the main context before workers start."""

    engine: str
    workers: int
    registrations: list[Registration]
    listeners: dict[int, list[socket.socket]]  # id(registration) -> its one listening socket
    start_hooks: list[Hook]
    stop_hooks: list[Hook]
    grace: float = 10.0
    guard_modules: list[ModuleType] = field(default_factory=list)
    board: stats.StatsBoard | None = None

    def sockets_for(self, registration: Registration) -> list[socket.socket]:
        return self.listeners.get(id(registration), [])
