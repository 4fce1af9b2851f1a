"""The shipped systemd unit: hardened (exposure ≤ 3.0), yet open to the board's serial ports.

Both checks run systemd's own tools offline on the file as shipped; they need
`systemd-analyze` (systemd ≥ 250 for `--offline`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "chargerd.service"
MAX_EXPOSURE = 3.0
# The UARTs of the boards chargerd is installed on, as /proc/devices names them.
BOARD_SERIAL_GROUPS = {"ttymxc", "ttyS", "ttyAMA", "ttyUSB", "ttyACM"}


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is needed to check the unit (apt-get install systemd)"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def unit_values(key: str) -> list[str]:
    return [
        line.split("=", 1)[1].strip()
        for line in UNIT.read_text().splitlines()
        if line.startswith(f"{key}=")
    ]


def test_security_exposure_is_at_most_3():
    result = systemd_analyze("security", "--offline=yes", str(UNIT))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


def test_device_allow_covers_the_board_uarts():
    groups = {value.split()[0].removeprefix("char-") for value in unit_values("DeviceAllow")}
    assert BOARD_SERIAL_GROUPS <= groups
    assert all(v.split()[1] == "rw" for v in unit_values("DeviceAllow") if "tty" in v)


def test_can_and_network_stay_reachable():
    families = " ".join(unit_values("RestrictAddressFamilies")).split()
    assert {"AF_CAN", "AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    assert unit_values("PrivateNetwork") in ([], ["no"])
    assert unit_values("UMask") == ["0077"]


def test_unit_verifies(tmp_path: Path):
    # `verify` also checks that ExecStart's program exists: point it at the installed
    # chargerd, and enable the commented reboot line so its syntax is checked too.
    chargerd = Path(sys.executable).parent / "chargerd"
    assert chargerd.exists()
    text = UNIT.read_text().replace("/usr/local/bin/chargerd", str(chargerd))
    assert "#ExecStopPost=+" in text
    text = text.replace("#ExecStopPost=+", "ExecStopPost=+")
    unit = tmp_path / "chargerd.service"
    unit.write_text(text)
    result = systemd_analyze("verify", str(unit))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys and bad values warn only
