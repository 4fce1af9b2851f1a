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

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from .core.model import Decision

if TYPE_CHECKING:
    from hal.registry import Hardware

    from .daemon import Daemon


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


def build_parts(daemon: Daemon, hardware: Hardware) -> dict[str, Part]:
    """The blocks a station runs (the firmware block is built earlier: before the Station,
    it gives back connectors it held for an installation in the last run)."""
    from .display.part import DisplayPart
    from .security.part import SecurityPart
    from .smart.part import SmartPart
    from .updates.logs import LogUploads

    def outbox() -> Any:
        return daemon.adapter.outbox  # type: ignore[attr-defined]

    security = SecurityPart(
        daemon.config, daemon.store, wake=lambda: outbox().wake(), online=lambda: outbox().connected
    )
    daemon.link.security = security
    # after a moment, so the answer that changed the credentials reaches the CSMS first
    security.credentials.changed.append(
        lambda: asyncio.get_running_loop().call_later(0.5, daemon.link.reconnect)
    )
    parts: dict[str, Part] = {
        security.name: security,
        "smart": SmartPart(daemon, hardware.site_meter),
        "display": DisplayPart(daemon, hardware.station_display),  # messages, tariffs, costs
        "logs": LogUploads(daemon),  # GetDiagnostics / GetLog
    }
    if daemon.config.csms.ocpp_version == "2.0.1":  # variable monitoring is 2.0.1's
        from .monitoring.part import MonitoringPart

        parts["monitoring"] = MonitoringPart(daemon)
    return parts
