"""Station configuration: one YAML file, validated with errors a technician can act on.

Every error names the file, the line, the key path, what is wrong and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StationInfo:
    id: str
    vendor: str = "chargerd"
    model: str = "chargerd-sim"
    serial: str | None = None
    firmware_version: str = "0.1.0"


@dataclass(frozen=True)
class CsmsConfig:
    url: str  # the station id is appended as the last path segment
    ocpp_version: str = "1.6"  # "1.6" or "2.0.1"
    password: str | None = None  # Basic auth (security profile 1) when set
    ca_file: str | None = None  # CA bundle to verify a wss:// server; system CAs when None
    call_timeout_s: float = 30.0  # how long to wait for a CALLRESULT
    reconnect_min_s: float = 1.0  # first reconnect wait; doubles after each failure
    reconnect_max_s: float = 60.0  # cap of the reconnect wait


@dataclass(frozen=True)
class ConnectorConfig:
    id: int
    max_current_a: float = 32.0
    phases: int = 3


@dataclass(frozen=True)
class SimConfig:
    voltage_v: float = 230.0  # per phase
    ev_max_current_a: float = 32.0  # what the simulated EV draws at most


@dataclass(frozen=True)
class Config:
    path: Path
    station: StationInfo
    csms: CsmsConfig
    connectors: tuple[ConnectorConfig, ...]
    storage_dir: Path = Path("/var/lib/chargerd")
    control_socket: Path = Path("/run/chargerd/control.sock")
    hal_driver: str = "sim"
    sim: SimConfig = field(default_factory=SimConfig)
    # first-start values of OCPP configuration: flat {Key: value} for 1.6,
    # nested {Component: {Variable: value}} for 2.0.1
    ocpp: dict[str, Any] = field(default_factory=dict)
    hard_reset_command: str | None = None  # run on Reset Hard instead of exiting for systemd
    log_level: str = "info"


class ConfigError(Exception):
    """The configuration is not valid. `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors
