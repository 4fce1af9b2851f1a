"""The log-upload rules (updates/logs.py UploadMachine), without I/O: the statuses of
GetDiagnostics / GetLog for every way an upload can go."""

from __future__ import annotations

import pytest

from chargerd.updates import requests
from chargerd.updates.logs import (
    Attempt,
    LogRequest,
    UploadMachine,
    UploadStatus,
    directory,
    location_problem,
)

S = UploadStatus
HTTP = "http://127.0.0.1:8080/logs/"


def machine(attempts: int = 3, interval: float = 5, location: str = HTTP) -> UploadMachine:
    return UploadMachine(LogRequest(7, location, attempts=attempts, retry_interval_s=interval))


def test_an_upload_that_works_is_uploading_then_uploaded():
    m = machine()
    assert m.start() == Attempt(1)
    m.succeeded()
    assert m.reported == [S.Uploading, S.Uploaded] and not m.running


def test_failed_attempts_are_retried_after_the_interval_then_upload_failure():
    m = machine(attempts=3, interval=5)
    m.start()
    assert m.failed("Failed") == Attempt(2, 5)
    assert m.failed("Failed") == Attempt(3, 5)
    assert m.failed("Failed") is None
    assert m.reported == [S.Uploading, S.UploadFailure]  # one Uploading for all attempts


def test_a_retry_that_works_is_uploaded():
    m = machine(attempts=2)
    m.start()
    assert m.failed("Failed") == Attempt(2, 5)
    m.succeeded()
    assert m.reported == [S.Uploading, S.Uploaded]


@pytest.mark.parametrize("kind", ["BadMessage", "PermissionDenied", "NotSupportedOperation"])
def test_a_refusal_is_final_at_once(kind: str):
    m = machine(attempts=5)
    m.start()
    assert m.failed(kind) is None
    assert m.reported == [S.Uploading, S(kind)]


@pytest.mark.parametrize(
    ("location", "status"),
    [("not a url", S.BadMessage), ("http:///no-host", S.BadMessage),
     ("sftp://host/logs/", S.NotSupportedOperation), ("mailto:a@b", S.BadMessage)],
)  # fmt: skip
def test_a_location_that_cannot_take_the_upload_fails_before_any_attempt(location, status):
    m = machine(location=location)
    assert m.start() is None
    assert m.reported == [status]


def test_a_cancelled_upload_is_accepted_canceled():
    m = machine()
    m.start()
    m.cancel()
    assert m.reported == [S.Uploading, S.AcceptedCanceled] and not m.running


def test_every_supported_protocol_is_usable():
    for url in ("http://h/", "https://h/x/", "ftp://u:p@h:21/", "ftps://h/"):
        assert location_problem(url) is None


def test_the_location_is_taken_as_a_directory():
    assert directory("http://h/logs") == "http://h/logs/"
    assert directory("ftp://u:p@h/in/") == "ftp://u:p@h/in/"
    assert directory("http://h") == "http://h/"


def test_get_log_and_get_diagnostics_are_read_with_their_window_and_retries():
    req = requests.get_log({
        "logType": "SecurityLog", "requestId": 4, "retries": 2, "retryInterval": 9,
        "log": {"remoteLocation": HTTP, "oldestTimestamp": "2026-01-01T01:00:00+01:00",
                "latestTimestamp": "2026-01-02T00:00:00Z"},
    })  # fmt: skip
    assert req.security_only and req.request_id == 4 and req.attempts == 2
    assert req.oldest == 1767225600.0  # the offset honoured: 2026-01-01T00:00:00Z
    assert req.latest == 1767312000.0
    diag = requests.diagnostics({"location": HTTP, "startTime": "2026-01-01T00:00:00"})
    assert diag.request_id is None and not diag.security_only
    assert diag.oldest == 1767225600.0 and diag.latest is None  # no offset: UTC
    assert diag.attempts == requests.DEFAULT_ATTEMPTS
