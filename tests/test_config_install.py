"""Installing on a board: the README starts from a board example, check-config warns about
what would break under systemd in a file installed under /etc, and a state or socket
directory the daemon cannot create is a configuration error (exit 78), not a traceback.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from chargerd.cli import main as chargerd_main
from chargerd.config import load_config

REPO = Path(__file__).resolve().parents[1]
EXIT_CONFIG = 78


def installed(tmp_path: Path, text: str) -> tuple[Path, tuple[Path, ...]]:
    """The file at <tmp>/etc/chargerd/station.yaml, and <tmp>/etc as the system dir."""
    etc = tmp_path / "etc"
    path = etc / "chargerd" / "station.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path, (etc,)


def at(path: Path, text: str) -> str:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return f"{path}:{number}: "
    raise AssertionError(f"{text!r} not in {path}")


def test_sim_yaml_installed_under_etc_warns_of_relative_paths_and_simulated_devices(
    tmp_path: Path,
):
    path, system = installed(tmp_path, (REPO / "config" / "sim.yaml").read_text())
    warnings = load_config(path, system_dirs=system).warnings
    storage, socket, *simulated = warnings
    where = at(path, "dir: ./state")
    assert storage.startswith(where + "warning: storage.dir: 'state' is relative")
    assert "/var/lib/chargerd" in storage
    assert socket.startswith(at(path, "socket: ./state/control.sock") + "warning: control.socket: ")
    assert [w.split(": ")[2] for w in simulated] == ["connectors[0]", "connectors[1]"]
    assert all("simulated controller and meter" in w for w in simulated)


def test_the_same_file_outside_etc_has_no_warnings():
    assert load_config(REPO / "config" / "sim.yaml").warnings == ()


def test_sim_wire_installed_under_etc_is_a_warning(tmp_path: Path):
    text = (REPO / "config" / "sim-wire.yaml").read_text()
    text = text.replace("./state-wire", str(tmp_path / "state"))
    path, system = installed(tmp_path, text)
    (warning,) = load_config(path, system_dirs=system).warnings
    assert warning.startswith(at(path, "wire: true") + "warning: sim.wire: ")


def test_board_examples_installed_under_etc_warn_only_of_missing_ports(tmp_path: Path):
    for example in sorted((REPO / "config" / "examples").glob("*.yaml")):
        path, system = installed(tmp_path / example.stem, example.read_text())
        warnings = load_config(path, system_dirs=system).warnings
        assert all("does not exist (yet)" in w for w in warnings), warnings


def test_readme_installs_a_board_example_with_absolute_paths():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Installing on a board", 1)[1].split("\n## ", 1)[0]
    copied = re.findall(r"install -D .*?(config/\S+\.yaml) /etc/chargerd/station\.yaml", section)
    assert copied and all(name.startswith("config/examples/") for name in copied), copied
    for name in copied:
        config = load_config(REPO / name)
        assert config.storage_dir == Path("/var/lib/chargerd")
        assert config.control_socket == Path("/run/chargerd/control.sock")
    assert "config/sim.yaml /etc" not in section


# --------------------------------------------------------------------------- chargerd run


def station(tmp_path: Path, storage: str, socket: str) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            station: {{id: CP-INSTALL}}
            csms: {{url: "ws://127.0.0.1:9/ocpp"}}
            storage: {{dir: {storage}}}
            control: {{socket: {socket}}}
            connectors: [{{id: 1}}]
            """
        )
    )
    return path


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A regular file: no directory can be created under it, not even by root."""
    path = tmp_path / "afile"
    path.write_text("not a directory\n")
    return path


def test_run_with_a_storage_dir_that_cannot_be_created_exits_78_naming_key_and_path(
    tmp_path: Path, a_file: Path, capsys
):
    path = station(tmp_path, f"{a_file}/state", f"{tmp_path}/run/control.sock")
    assert chargerd_main(["run", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"{path}: storage.dir: cannot create the directory {a_file}/state: " in err
    assert "Not a directory" in err
    assert "Traceback" not in err


def test_run_resolves_a_relative_storage_dir_in_the_message(
    tmp_path: Path, a_file: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    path = station(tmp_path, "afile/state", f"{tmp_path}/control.sock")
    assert chargerd_main(["run", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"storage.dir: cannot create the directory {tmp_path}/afile/state" in err


def test_run_with_a_socket_dir_that_cannot_be_created_exits_78(
    tmp_path: Path, a_file: Path, capsys
):
    path = station(tmp_path, f"{tmp_path}/state", f"{a_file}/run/control.sock")
    assert chargerd_main(["run", "--config", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"{path}: control.socket: cannot create the directory {a_file}/run" in err
    assert "Traceback" not in err
