"""The validated configuration, and the sections of the file that fill it, in order.

Adding a section: a module with its dataclass and `SECTION` (see `sim.py`), its line in
`SECTIONS`, and its field on `Config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hal.options import DeviceConfig

from . import auth, connectors, csms, firmware, host, ocpp, security, sim, site, station
from .auth import AuthConfig
from .connectors import ConnectorConfig
from .csms import CsmsConfig
from .firmware import FirmwareConfig
from .host import StorageConfig
from .schema import Section
from .security import SecurityConfig
from .sim import SimConfig
from .site import SiteConfig
from .station import StationInfo

# Read in this order: a section may use what earlier ones found (`schema.Found`):
# ocpp needs the OCPP version (csms) and the number of connectors.
SECTIONS: tuple[Section, ...] = (
    station.SECTION,
    csms.SECTION,
    host.STORAGE,
    host.CONTROL,
    connectors.HAL,
    sim.SECTION,
    connectors.SECTION,
    connectors.STATION_DISPLAY,
    site.SECTION,
    ocpp.SECTION,
    auth.SECTION,
    security.SECTION,
    firmware.SECTION,
    host.RESET,
    host.LOG,
)


@dataclass(frozen=True)
class Config:
    path: Path
    station: StationInfo
    csms: CsmsConfig
    connectors: tuple[ConnectorConfig, ...]
    storage_dir: Path = Path("/var/lib/chargerd")
    storage: StorageConfig = field(default_factory=StorageConfig)  # the outbox's limits
    control_socket: Path = Path("/run/chargerd/control.sock")
    hal_driver: str = "sim"
    sim: SimConfig = field(default_factory=SimConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)  # free charging
    security: SecurityConfig = field(default_factory=SecurityConfig)  # certificate renewal
    firmware: FirmwareConfig = field(default_factory=FirmwareConfig)  # installer, trust
    site: SiteConfig | None = None  # the grid connection shared by all connectors
    station_display: DeviceConfig | None = None  # `display:` the station's own screen
    # first-start values of OCPP configuration: flat {Key: value} for 1.6,
    # nested {Component: {Variable: value}} for 2.0.1
    ocpp: dict[str, Any] = field(default_factory=dict)
    hard_reset_command: str | None = None  # run on Reset Hard instead of exiting for systemd
    log_level: str = "info"
    log_file: Path | None = None  # appended to, re-opened on SIGHUP; None: stderr
    # `{file}:{line}: {key.path}: ...` lines for what works but is likely a mistake
    warnings: tuple[str, ...] = field(default=(), compare=False)
