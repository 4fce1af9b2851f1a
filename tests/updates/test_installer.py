"""The installers: a real command run through the shell ({file} and {version} substituted,
exit status, a `version=` line, exit 65 for an image its check refuses), and the simulated
one (rollback and refused image by name)."""

from __future__ import annotations

from pathlib import Path

from chargerd.config import load_config
from chargerd.updates.installer import install
from chargerd.updates.version import running_version
from tests.updates.test_config_firmware import write


def config_with(tmp_path: Path, firmware: str):
    return load_config(write(tmp_path, firmware))


def image(tmp_path: Path, name: str = "chargerd-fw-2.7.1.bin") -> Path:
    file = tmp_path / "dl dir" / name  # a space: {file} must arrive as one argument
    file.parent.mkdir(exist_ok=True)
    file.write_bytes(b"image")
    return file


async def test_a_command_gets_the_file_and_version_and_exit_0_persists_the_version(tmp_path):
    seen = tmp_path / "seen"
    config = config_with(tmp_path, (
        "firmware:\n  installer: command\n"
        f"  command: \"printf '%s|%s' {{file}} {{version}} > {seen}\"\n"
    ))  # fmt: skip
    result = await install(config, image(tmp_path), "2.7.1")
    assert result.ok
    assert seen.read_text() == f"{image(tmp_path)}|2.7.1"
    assert running_version(config) == "2.7.1"


async def test_a_version_line_in_the_output_names_the_version(tmp_path):
    config = config_with(tmp_path, (
        "firmware:\n  installer: command\n"
        "  command: \"echo writing slot B; echo version=3.1.4\"\n"
    ))  # fmt: skip
    result = await install(config, image(tmp_path), "2.7.1")
    assert result.ok and result.version == "3.1.4"
    assert running_version(config) == "3.1.4"


async def test_a_failing_command_is_not_installed_and_keeps_the_old_version(tmp_path, caplog):
    config = config_with(tmp_path, (
        "firmware:\n  installer: command\n"
        "  command: \"echo bundle signature invalid; exit 3\"\n"
    ))  # fmt: skip
    result = await install(config, image(tmp_path), "2.7.1")
    assert not result.ok
    assert "exit status 3" in result.detail
    assert running_version(config) == config.station.firmware_version
    assert "bundle signature invalid" in caplog.text  # its output is logged
    assert not result.verification_failed  # any failure but exit 65 is InstallationFailed


async def test_exit_65_is_the_installer_refusing_the_image(tmp_path):
    config = config_with(tmp_path, (
        "firmware:\n  installer: command\n"
        "  command: \"echo checksum mismatch; exit 65\"\n"
    ))  # fmt: skip
    result = await install(config, image(tmp_path), "2.7.1")
    assert not result.ok and result.verification_failed
    assert running_version(config) == config.station.firmware_version


async def test_the_sim_installer_runs_the_new_version(tmp_path):
    config = config_with(tmp_path, "")
    result = await install(config, image(tmp_path), "2.7.1")
    assert result.ok and running_version(config) == "2.7.1"


async def test_the_sim_installer_rolls_back_an_image_named_rollback(tmp_path):
    config = config_with(tmp_path, "")
    before = running_version(config)
    result = await install(config, image(tmp_path, "chargerd-fw-rollback-2.8.0.bin"), "2.8.0")
    assert result.ok  # written; the restart comes back with the old version
    assert running_version(config) == before


async def test_the_sim_installer_refuses_an_image_named_corrupt(tmp_path):
    config = config_with(tmp_path, "")
    before = running_version(config)
    result = await install(config, image(tmp_path, "chargerd-fw-corrupt-2.9.bin"), "2.9")
    assert not result.ok and result.verification_failed
    assert running_version(config) == before
