"""Diagnostics and log uploads through the real daemon (OCPP 1.6): GetDiagnostics and the
security extension's GetLog, uploaded to local HTTP (PUT) and FTP servers, unpacked and
checked for the five files, the time window and the absence of every secret."""

from __future__ import annotations

import asyncio
import base64
import io
import math
import socket
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devcsms import Csms
from tests.updates.servers import Site, ftp_server, http_server

from .conftest import STATION_ID, Station, calls, run_cli, wait_call, wait_until

PASSWORD = "Csms-Pa55word-e2e"
FTP_PASSWORD = "Ftp-Pa55-e2e"
FILES = {"chargerd.log", "security.log", "status.json", "config.yaml", "ocpp-frames.log"}


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def unpack(data: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}


def secrets_of(station: Station) -> list[str]:
    token = base64.b64encode(f"{station.station_id}:{PASSWORD}".encode()).decode()
    return [PASSWORD, token, FTP_PASSWORD]


def assert_no_secret(files: dict[str, str], secrets: list[str]) -> None:
    for name, text in files.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} in {name}"


async def statuses(csms: Csms, action: str, after: int, final: set[str]) -> list[str]:
    """The statuses of `action` sent from `after` on, once one of `final` came."""
    await wait_until(
        lambda: any(e.payload["status"] in final for e in calls(csms, action, after)),
        f"{action} {final}",
    )
    return [e.payload["status"] for e in calls(csms, action, after)]


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: an upload hangs there."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


async def test_get_diagnostics_uploads_the_bundle_with_http_put(csms: Csms, station: Station):
    station.password = PASSWORD
    site = Site()
    with http_server(site) as port:
        await station.start()
        # the window starts after the daemon's start-up: its start-up lines are left out
        start = math.ceil(time.time()) + 1
        await wait_until(lambda: time.time() >= start, "the window to open")
        mark = len(csms.ledger.entries)
        answer = await csms.call(STATION_ID, "GetDiagnostics", {
            "location": f"http://127.0.0.1:{port}/diagnostics",
            "startTime": iso(start), "stopTime": iso(time.time() + 120),
        })  # fmt: skip
        name = answer["fileName"]
        assert name.endswith(".tar.gz") and STATION_ID in name
        sent = await statuses(csms, "DiagnosticsStatusNotification", mark, {"Uploaded"})
        assert sent == ["Uploading", "Uploaded"]
        files = unpack(site.uploads[f"/diagnostics/{name}"])
    assert set(files) == FILES
    assert "GetDiagnostics" in files["chargerd.log"]
    assert "starting: station" not in files["chargerd.log"]  # before the window
    assert "GetDiagnostics" in files["ocpp-frames.log"]
    assert "BootNotification" not in files["ocpp-frames.log"]  # before the window
    assert '"status": "Available"' in files["status.json"]
    assert "password: '********'" in files["config.yaml"]
    assert_no_secret(files, secrets_of(station))


async def test_get_diagnostics_over_ftp_keeps_the_url_password_out(
    csms: Csms, station: Station, tmp_path: Path
):
    station.password = PASSWORD
    root = tmp_path / "ftp"
    root.mkdir()
    with ftp_server(root, password=FTP_PASSWORD) as port:
        await station.start()
        mark = len(csms.ledger.entries)
        answer = await csms.call(STATION_ID, "GetDiagnostics", {
            "location": f"ftp://tech:{FTP_PASSWORD}@127.0.0.1:{port}/",
        })  # fmt: skip
        sent = await statuses(csms, "DiagnosticsStatusNotification", mark, {"Uploaded"})
        assert sent == ["Uploading", "Uploaded"]
        files = unpack((root / answer["fileName"]).read_bytes())
    assert set(files) == FILES
    assert "GetDiagnostics" in files["ocpp-frames.log"]  # the request is there, not its password
    assert_no_secret(files, secrets_of(station))
    assert FTP_PASSWORD not in station.log()  # nor in the daemon's log


async def test_an_upload_that_keeps_failing_ends_with_upload_failed(csms: Csms, station: Station):
    site = Site()
    with http_server(site) as port:
        pass  # closed again: nobody listens on that port
    await station.start()
    mark = len(csms.ledger.entries)
    await csms.call(STATION_ID, "GetDiagnostics", {
        "location": f"http://127.0.0.1:{port}/", "retries": 2, "retryInterval": 1,
    })  # fmt: skip
    sent = await statuses(csms, "DiagnosticsStatusNotification", mark, {"UploadFailed"})
    assert sent == ["Uploading", "UploadFailed"]  # one Uploading for both attempts
    assert "attempt 2 of 2" in station.log()


async def test_get_log_of_the_security_extension(csms: Csms, station: Station):
    site = Site()
    with http_server(site) as port:
        await station.start()
        mark = len(csms.ledger.entries)
        answer = await csms.call(STATION_ID, "GetLog", {
            "logType": "DiagnosticsLog", "requestId": 7,
            "log": {"remoteLocation": f"http://127.0.0.1:{port}/logs/"},
        })  # fmt: skip
        assert answer["status"] == "Accepted"
        await wait_call(csms, "LogStatusNotification", after=mark, status="Uploaded", requestId=7)
        sent = [(e.payload["status"], e.payload["requestId"])
                for e in calls(csms, "LogStatusNotification", mark)]  # fmt: skip
        assert sent == [("Uploading", 7), ("Uploaded", 7)]
        assert set(unpack(site.uploads[f"/logs/{answer['filename']}"])) == FILES

        mark = len(csms.ledger.entries)
        answer = await csms.call(STATION_ID, "GetLog", {
            "logType": "SecurityLog", "requestId": 8,
            "log": {"remoteLocation": f"http://127.0.0.1:{port}/logs/"},
        })  # fmt: skip
        await wait_call(csms, "LogStatusNotification", after=mark, status="Uploaded", requestId=8)
        assert set(unpack(site.uploads[f"/logs/{answer['filename']}"])) == {"security.log"}


async def test_get_log_to_a_location_that_is_no_url_is_a_bad_message(
    csms: Csms, station: Station
):
    await station.start()
    mark = len(csms.ledger.entries)
    answer = await csms.call(STATION_ID, "GetLog", {
        "logType": "DiagnosticsLog", "requestId": 9, "log": {"remoteLocation": "not a url"},
    })  # fmt: skip
    assert answer["status"] == "Accepted"
    await wait_call(csms, "LogStatusNotification", after=mark, status="BadMessage", requestId=9)
    answer = await csms.call(STATION_ID, "GetLog", {
        "logType": "DiagnosticsLog", "requestId": 10,
        "log": {"remoteLocation": "sftp://127.0.0.1/logs/"},
    })  # fmt: skip
    await wait_call(csms, "LogStatusNotification", after=mark, status="NotSupportedOperation",
                    requestId=10)  # fmt: skip


async def test_triggered_diagnostics_status_is_uploading_during_an_upload_then_idle(
    csms: Csms, station: Station
):
    await station.start()
    with silent_server() as port:
        await csms.call(STATION_ID, "GetDiagnostics", {
            "location": f"http://127.0.0.1:{port}/", "retries": 1,
        })  # fmt: skip
        await wait_call(csms, "DiagnosticsStatusNotification", status="Uploading")
        mark = len(csms.ledger.entries)
        answer = await csms.call(
            STATION_ID, "TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}
        )
        assert answer["status"] == "Accepted"
        await wait_call(csms, "DiagnosticsStatusNotification", after=mark, status="Uploading")
    # the server hung up without an answer: the only attempt failed
    await statuses(csms, "DiagnosticsStatusNotification", mark, {"UploadFailed"})
    mark = len(csms.ledger.entries)
    await csms.call(
        STATION_ID, "TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}
    )
    await wait_call(csms, "DiagnosticsStatusNotification", after=mark, status="Idle")


async def test_chargerctl_logs_bundle_writes_the_same_bundle(
    csms: Csms, station: Station, tmp_path: Path
):
    station.password = PASSWORD
    await station.start()
    out = tmp_path / "here" / "bundle.tar.gz"
    done = await asyncio.to_thread(
        run_cli, "--socket", str(station.socket), "logs", "bundle", str(out),
        module="chargerd.ctl",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    files = unpack(out.read_bytes())
    assert set(files) == FILES
    assert "starting: station" in files["chargerd.log"]  # the whole log: no window
    assert "BootNotification" in files["ocpp-frames.log"]
    assert_no_secret(files, secrets_of(station))


async def test_a_key_the_csms_sets_never_reaches_the_bundle(csms: Csms, station: Station):
    station.password = PASSWORD
    new_password = "New-Auth-Key-01234"  # 16-20 bytes
    key = new_password.encode().hex()  # AuthorizationKey: the password in hex
    site = Site()
    with http_server(site) as port:
        await station.start()
        answer = await csms.call(STATION_ID, "ChangeConfiguration",
                                 {"key": "AuthorizationKey", "value": key})  # fmt: skip
        assert answer["status"] == "Accepted"
        await station.wait_link(True)
        mark = len(csms.ledger.entries)
        answer = await csms.call(STATION_ID, "GetDiagnostics",
                                 {"location": f"http://127.0.0.1:{port}/d/"})  # fmt: skip
        await statuses(csms, "DiagnosticsStatusNotification", mark, {"Uploaded"})
        files = unpack(site.uploads[f"/d/{answer['fileName']}"])
    assert "AuthorizationKey" in files["ocpp-frames.log"]  # the request is there...
    assert_no_secret(files, [*secrets_of(station), key, new_password])  # ...not its value
    assert key not in station.log() and new_password not in station.log()
