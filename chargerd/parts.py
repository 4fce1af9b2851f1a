"""Feature blocks beside the station core, as the daemon runs them.

Smart charging, certificates and security events, firmware updates and diagnostics, and
the driver-facing display each keep their rules in a sans-I/O engine and their effects in
one `Part` the daemon holds. A part sees every decision of the core, runs for the daemon's
life, and adds its facts to `chargerctl status`. Adapters reach a part through the runtime
(`rt.parts`) and answer its OCPP requests with `CsmsConnection.add_handlers`.

Only the parts the start needs are built with the daemon: "updates" (it gives back
connectors held for an installation before the Station exists) and "security" (the link's
credentials and TLS). The others are built when the first BootNotification has left, or
earlier when anything asks for a part (a decision of the core, a CSMS request, chargerctl),
so their imports stay out of the cold start; the daemon then tells the adapter that the
parts exist, and only then starts every part's `run`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
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


class Parts(Mapping[str, Part]):
    """The daemon's parts by name; looking at them builds the ones still to build."""

    def __init__(
        self,
        first: dict[str, Part],
        later: Callable[[], dict[str, Part]],
        built: Callable[[], None],
    ) -> None:
        self._parts = dict(first)
        self._later: Callable[[], dict[str, Part]] | None = later
        self._built = built  # told once, when every part exists
        self._wanted = asyncio.Event()

    @property
    def complete(self) -> bool:
        return self._later is None

    def build_rest(self) -> None:
        """Build the parts not built yet (once); then tell the daemon."""
        later, self._later = self._later, None
        if later is None:
            return
        self._parts.update(later())
        self._built()

    def want(self) -> None:
        """Have the rest built soon, by the daemon's task (`build_when_wanted`), not by the
        caller (the first BootNotification has left: the CSMS works on it meanwhile)."""
        self._wanted.set()

    async def build_when_wanted(self, at_latest_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_latest_s):
                await self._wanted.wait()
        self.build_rest()

    def built(self) -> dict[str, Part]:
        """The parts built so far, without building the others."""
        return dict(self._parts)

    def __getitem__(self, name: str) -> Part:
        self.build_rest()
        return self._parts[name]

    def __iter__(self) -> Iterator[str]:
        self.build_rest()
        return iter(dict(self._parts))

    def __len__(self) -> int:
        self.build_rest()
        return len(self._parts)


def first_parts(daemon: Daemon) -> dict[str, Part]:
    """The parts the start needs (the firmware block is built earlier still: before the
    Station, it gives back connectors it held for an installation in the last run)."""
    from . import frames
    from .security.part import SecurityPart

    # every frame from the first BootNotification on (the log bundles' ocpp-frames.log)
    frames.open_log(daemon.config.storage_dir)

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
    return {security.name: security}


def later_parts(daemon: Daemon, hardware: Hardware) -> dict[str, Part]:
    """The parts built once the first BootNotification has left (or when first wanted)."""
    from .display.part import DisplayPart
    from .smart.part import SmartPart
    from .updates.logs import LogUploads

    parts: dict[str, Part] = {
        "smart": SmartPart(daemon, hardware.site_meter),
        "display": DisplayPart(daemon, hardware.station_display),  # messages, tariffs, costs
        "logs": LogUploads(daemon),  # GetDiagnostics / GetLog
    }
    if daemon.config.csms.ocpp_version == "2.0.1":  # variable monitoring is 2.0.1's
        from .monitoring.part import MonitoringPart

        parts["monitoring"] = MonitoringPart(daemon)
    return parts
