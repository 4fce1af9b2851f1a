"""Checks of the whole station, once every section is valid: devices that cannot work
together (errors), and what works but is likely a mistake on a board (warnings).

Warnings: a serial port that does not exist yet (the adapter may be plugged in later),
and, in a file installed under /etc, relative paths (they count from the directory the
daemon is started in, `/` under systemd) and simulated devices (a copied sim.yaml).
"""

from __future__ import annotations

from pathlib import Path

from hal.checks import DeviceProblem, check_combinations, device_paths

from .model import Config
from .source import Node, Problem, index, join

# Where a station's own file lives once installed; files elsewhere (a checkout, a test)
# are allowed relative paths and simulated hardware without a word.
SYSTEM_CONFIG_DIRS: tuple[Path, ...] = (Path("/etc"),)
ROLES = ("controller", "meter")


def device_problems(config: Config, root: Node) -> list[Problem]:
    return [_located(root, p) for p in check_combinations(config)]


def warnings(config: Config, root: Node, system_dirs: tuple[Path, ...]) -> list[Problem]:
    found = _missing_ports(config, root)
    if _installed(config.path, system_dirs):
        found += _relative_paths(config, root) + _simulated(config, root)
    return found


def _installed(path: Path, system_dirs: tuple[Path, ...]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(d.resolve()) for d in system_dirs)


def _node(root: Node, *keys: str | int) -> Node | None:
    node: Node | None = root
    for key in keys:
        if node is None:
            return None
        value = node.value
        if isinstance(key, int):
            node = value[key] if isinstance(value, list) and key < len(value) else None
        else:
            node = value.get(key) if isinstance(value, dict) else None
    return node


def _line(root: Node, *keys: str | int) -> int | None:
    """The line of the deepest of `keys` that is written (a default sits on its parent)."""
    for depth in range(len(keys), -1, -1):
        node = _node(root, *keys[:depth])
        if node is not None:
            return node.line
    return None


def _located(root: Node, problem: DeviceProblem) -> Problem:
    keys: list[str | int] = ["connectors", problem.connector, problem.role]
    if problem.key:
        keys.append(problem.key)
    return Problem(_line(root, *keys), problem.path, problem.message)


def _missing_ports(config: Config, root: Node) -> list[Problem]:
    if config.sim.wire:  # the drivers are pointed at simulators, not at these paths
        return []
    found = []
    for i, c in enumerate(config.connectors):
        for role in ("controller", "meter", "power", "reader"):
            device = getattr(c, role, None)
            for key, path in device_paths(device) if device is not None else []:
                if Path(path).exists():
                    continue
                message = (
                    f"{path} does not exist (yet); connector {c.id} stays Faulted until it "
                    "appears: check the cable or adapter and the path (ls /dev/serial/by-id/)"
                )
                where = join(join(index("connectors", i), role), key)
                found.append(Problem(_line(root, "connectors", i, role, key), where, message))
    return found


def _relative_paths(config: Config, root: Node) -> list[Problem]:
    paths = {
        ("storage", "dir"): config.storage_dir,
        ("control", "socket"): config.control_socket,
        ("csms", "ca_file"): config.csms.ca_file,
    }
    found = []
    for (section, key), path in paths.items():
        if path is not None and not Path(path).is_absolute():
            message = (
                f"{str(path)!r} is relative: it counts from the directory chargerd is started "
                "in (/ under systemd); allowed: an absolute path, e.g. "
                + ("/var/lib/chargerd" if section == "storage" else
                   "/run/chargerd/control.sock" if section == "control" else "/etc/chargerd/ca.pem")
            )  # fmt: skip
            found.append(Problem(_line(root, section, key), f"{section}.{key}", message))
    return found


def _simulated(config: Config, root: Node) -> list[Problem]:
    found = []
    if config.sim.wire:
        message = "the devices are simulated in-process; allowed on a board: remove it"
        found.append(Problem(_line(root, "sim", "wire"), "sim.wire", message))
        return found
    for i, c in enumerate(config.connectors):
        simulated = [r for r in ROLES if getattr(c, r) is None or getattr(c, r).driver == "sim"]
        if simulated:
            message = (
                f"simulated {' and '.join(simulated)} (driven by chargerctl sim) in an "
                "installed file; allowed on a board: real devices, as in config/examples/"
            )
            found.append(Problem(_line(root, "connectors", i), index("connectors", i), message))
    return found
