"""Feature blocks beside the station core, as the daemon runs them.

Smart charging, certificates and security events, firmware updates and diagnostics, and
the driver-facing display each keep their rules in a sans-I/O engine and their effects in
one `Part` the daemon holds. A part is built in `Daemon.__init__` (importing its module
only there, so an unused block costs no start-up time), sees every decision of the core,
runs for the daemon's life, and adds its facts to `chargerctl status`. Adapters reach a
part through the runtime (`rt.parts`) and answer its OCPP requests with
`CsmsConnection.add_handlers`.
"""

from __future__ import annotations

from typing import Any, Protocol

from .core.model import Decision


class Part(Protocol):
    name: str  # "smart", "security", "updates", "display": the key in Daemon.parts

    async def run(self) -> None:
        """Runs as long as the daemon (return at once when there is nothing to do)."""
        ...

    def see(self, decision: Decision) -> None:
        """A decision of the core, seen with the rest of its batch before the hardware and
        the adapter act on them (the core's state already shows it)."""
        ...

    def status(self, into: dict[str, Any]) -> None:
        """Add this block's facts to `chargerctl status` (station level and per connector in
        `into["connectors"]`)."""
        ...
