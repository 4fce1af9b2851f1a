"""The firmware update state machine: every path through the statuses, fed events with
no network, disk or clock; and a restart (the state read back from its JSON) at every state."""

from __future__ import annotations

import pytest

from chargerd.updates.machine import (
    CancelDownload,
    HoldConnectors,
    Install,
    ReleaseConnectors,
    Report,
    Restart,
    SecurityEvent,
    StartDownload,
    UpdateMachine,
    UpdateRequest,
    UpdateState,
    VerifySignature,
    version_of,
)
from chargerd.updates.machine import (
    FirmwareStatus as S,
)

T0 = 1_000_000.0
URL = "https://maker.example/fw/chargerd-fw-2.7.1.bin"


def req(**kw) -> UpdateRequest:
    base = dict(request_id=7, location=URL, retrieve_at=T0, retries=1, retry_interval_s=30)
    return UpdateRequest(**{**base, **kw})


def statuses(decisions) -> list[S]:
    return [d.status for d in decisions if isinstance(d, Report)]


def restarted(m: UpdateMachine) -> UpdateMachine:
    """What the next run of the daemon reads from storage."""
    return UpdateMachine(UpdateState.from_json(m.state.to_json()))


def test_version_is_the_last_dash_part_of_the_file_name_without_extension():
    assert version_of(URL) == "2.7.1"
    assert version_of("ftp://u:p@h/images/station-fw-3.0.0-rc1.tar.gz?x=1") == "rc1"
    assert version_of("http://h/a/fw-10.2.raucb") == "10.2"


def test_unsigned_update_goes_downloading_downloaded_installing_rebooting_installed():
    m = UpdateMachine()
    assert m.request(req(), T0) == "Accepted"
    assert m.take() == [Report(S.Downloading, 7), StartDownload(URL, 1)]
    m.downloaded(T0 + 5, busy=False)
    assert m.take() == [Report(S.Downloaded, 7), HoldConnectors(), Report(S.Installing, 7),
                        Install("2.7.1")]  # fmt: skip
    m.installed(True, None, T0 + 9)
    assert m.take() == [Report(S.InstallRebooting, 7), Restart()]
    m = restarted(m)
    m.booted("2.7.1", T0 + 20, busy=False)
    assert m.take() == [Report(S.Installed, 7), SecurityEvent("FirmwareUpdated", "2.7.1")]
    assert not m.active


def test_signed_update_reports_signature_verified_before_installing():
    m = UpdateMachine()
    m.request(req(signed=True), T0)
    m.take()
    m.downloaded(T0 + 1, busy=False)
    assert m.take() == [Report(S.Downloaded, 7), VerifySignature()]
    m.verified(True, "", T0 + 2, busy=False)
    assert statuses(m.take()) == [S.SignatureVerified, S.Installing]


def test_bad_signature_is_invalid_signature_with_a_security_event_and_no_install():
    m = UpdateMachine()
    m.request(req(signed=True), T0)
    m.downloaded(T0 + 1, busy=False)
    m.take()
    m.verified(False, "signature does not match", T0 + 2, busy=False)
    out = m.take()
    event = SecurityEvent("InvalidFirmwareSignature", "signature does not match")
    assert out == [Report(S.InvalidSignature, 7), event]
    assert not any(isinstance(d, Install) for d in out)
    assert not m.active


def test_future_retrieve_date_is_download_scheduled_until_it_comes():
    m = UpdateMachine()
    m.request(req(retrieve_at=T0 + 60), T0)
    assert m.take() == [Report(S.DownloadScheduled, 7)]
    m.tick(T0 + 59, busy=False)
    assert m.take() == []
    m.tick(T0 + 60, busy=False)
    assert m.take() == [Report(S.Downloading, 7), StartDownload(URL, 1)]


def test_retries_is_the_number_of_attempts_spaced_by_the_interval_then_download_failed():
    m = UpdateMachine()
    m.request(req(retries=3, retry_interval_s=30), T0)
    m.take()
    m.download_failed("404", T0 + 1)
    assert m.take() == []  # still Downloading, waiting
    m.tick(T0 + 30, busy=False)
    assert m.take() == []
    m.tick(T0 + 31, busy=False)
    assert m.take() == [StartDownload(URL, 2)]  # Downloading is not reported twice
    m.download_failed("404", T0 + 32)
    m.tick(T0 + 62, busy=False)
    assert m.take() == [StartDownload(URL, 3)]
    m.download_failed("404", T0 + 63)
    assert m.take() == [Report(S.DownloadFailed, 7)]
    assert not m.active


# --- DownloadPaused -------------------------------------------------------------------------


def test_an_attempt_broken_off_midway_is_paused_then_downloading_again_at_the_interval():
    m = UpdateMachine()
    m.request(req(retries=3, retry_interval_s=30), T0)
    m.take()
    m.download_failed("connection lost", T0 + 1, kept_bytes=100_000)
    assert m.take() == [Report(S.DownloadPaused, 7)]
    assert m.active
    m.tick(T0 + 30, busy=False)
    assert m.take() == []
    m.tick(T0 + 31, busy=False)
    assert m.take() == [Report(S.Downloading, 7), StartDownload(URL, 2)]  # resumes the file
    m.downloaded(T0 + 40, busy=False)
    assert statuses(m.take()) == [S.Downloaded, S.Installing]


def test_an_attempt_that_got_nothing_is_no_pause():
    m = UpdateMachine()
    m.request(req(retries=2), T0)
    m.take()
    m.download_failed("HTTP 404", T0 + 1, kept_bytes=0)
    assert m.take() == []
    assert m.status is S.Downloading


def test_pausing_again_after_a_resumed_attempt_broke_off_too():
    m = UpdateMachine()
    m.request(req(retries=3, retry_interval_s=5), T0)
    m.download_failed("cut", T0 + 1, kept_bytes=10)
    m.tick(T0 + 6, busy=False)
    m.take()
    m.download_failed("unreachable", T0 + 7, kept_bytes=10)  # the part from before is kept
    assert m.take() == [Report(S.DownloadPaused, 7)]


def test_the_last_attempt_breaking_off_is_download_failed_not_paused():
    m = UpdateMachine()
    m.request(req(retries=2, retry_interval_s=5), T0)
    m.download_failed("cut", T0 + 1, kept_bytes=10)
    m.tick(T0 + 6, busy=False)
    m.take()
    m.download_failed("cut", T0 + 7, kept_bytes=20)
    assert m.take() == [Report(S.DownloadFailed, 7)]


def test_a_new_request_during_a_pause_cancels_it_and_its_partial_file():
    m = UpdateMachine()
    m.request(req(retries=2), T0)
    m.download_failed("cut", T0 + 1, kept_bytes=10)
    m.take()
    assert m.request(req(request_id=8, retrieve_at=T0 + 500), T0 + 2) == "AcceptedCanceled"
    assert m.take() == [CancelDownload(), Report(S.DownloadScheduled, 8)]
    m.tick(T0 + 100, busy=False)  # the paused one's retry time: nothing of it comes back
    assert m.take() == []


def test_restart_in_download_paused_waits_for_the_interval_then_goes_on():
    m = UpdateMachine()
    m.request(req(retries=2, retry_interval_s=30), T0)
    m.download_failed("cut", T0 + 1, kept_bytes=10)
    m.take()
    m = restarted(m)
    assert m.status is S.DownloadPaused
    m.booted("2.6.0", T0 + 5, busy=False)
    assert m.take() == []
    m.tick(T0 + 31, busy=False)
    assert m.take() == [Report(S.Downloading, 7), StartDownload(URL, 2)]


# --- AllowNewSessionsPendingFirmwareUpdate ---------------------------------------------------


def allowing() -> UpdateMachine:
    m = UpdateMachine()
    m.allow_new_sessions = True
    return m


def test_allowing_new_sessions_the_connectors_stay_free_until_no_session_runs():
    m = allowing()
    m.request(req(), T0)
    m.take()
    m.downloaded(T0 + 1, busy=True)
    assert m.take() == [Report(S.Downloaded, 7), Report(S.InstallScheduled, 7)]
    m.tick(T0 + 2, busy=True)  # the first session ended, another began meanwhile
    assert m.take() == []
    m.tick(T0 + 3, busy=False)  # none left: held for the installation itself
    assert m.take() == [HoldConnectors(), Report(S.Installing, 7), Install("2.7.1")]


def test_allowing_new_sessions_with_an_install_date_still_waits_for_the_date():
    m = allowing()
    m.request(req(install_at=T0 + 100), T0)
    m.downloaded(T0 + 1, busy=False)
    m.take()
    m.tick(T0 + 100, busy=True)
    assert m.take() == []
    m.tick(T0 + 101, busy=False)
    assert m.take() == [HoldConnectors(), Report(S.Installing, 7), Install("2.7.1")]


def test_the_setting_changed_while_waiting_holds_or_gives_back_the_connectors():
    m = allowing()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=True)
    m.take()
    m.allow_new_sessions = False
    m.tick(T0 + 2, busy=True)
    assert m.take() == [HoldConnectors()]
    m.allow_new_sessions = True
    m.tick(T0 + 3, busy=True)
    assert m.take() == [ReleaseConnectors()]
    assert m.status is S.InstallScheduled


def test_restart_in_install_scheduled_allowing_new_sessions_holds_nothing_while_busy():
    m = allowing()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=True)
    m.take()
    m = restarted(m)
    m.allow_new_sessions = True  # a setting: the part gives it again after a restart
    m.booted("2.6.0", T0 + 5, busy=True)
    assert m.take() == []
    m.tick(T0 + 6, busy=False)
    assert m.take() == [HoldConnectors(), Report(S.Installing, 7), Install("2.7.1")]


@pytest.mark.parametrize("retries", [0, 1])
def test_at_least_one_attempt_is_made(retries):
    m = UpdateMachine()
    m.request(req(retries=retries), T0)
    m.take()
    m.download_failed("refused", T0)
    assert m.take() == [Report(S.DownloadFailed, 7)]


def test_during_a_transaction_the_install_waits_in_install_scheduled_with_connectors_held():
    m = UpdateMachine()
    m.request(req(), T0)
    m.take()
    m.downloaded(T0 + 1, busy=True)
    assert m.take() == [Report(S.Downloaded, 7), HoldConnectors(), Report(S.InstallScheduled, 7)]
    m.tick(T0 + 2, busy=True)
    assert m.take() == []
    m.tick(T0 + 3, busy=False)
    assert m.take() == [Report(S.Installing, 7), Install("2.7.1")]


def test_future_install_date_is_install_scheduled_and_connectors_stay_free_until_then():
    m = UpdateMachine()
    m.request(req(install_at=T0 + 100), T0)
    m.take()
    m.downloaded(T0 + 1, busy=False)
    assert m.take() == [Report(S.Downloaded, 7), Report(S.InstallScheduled, 7)]
    m.tick(T0 + 99, busy=False)
    assert m.take() == []
    m.tick(T0 + 100, busy=True)  # a session runs at installDateTime: hold, wait for it
    assert m.take() == [HoldConnectors()]
    m.tick(T0 + 120, busy=False)
    assert m.take() == [Report(S.Installing, 7), Install("2.7.1")]


def test_installer_failure_is_installation_failed_and_connectors_released():
    m = UpdateMachine()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=False)
    m.take()
    m.installed(False, None, T0 + 2)
    assert m.take() == [Report(S.InstallationFailed, 7), ReleaseConnectors()]


@pytest.mark.parametrize("running", ["2.6.0", "2.7.0"])  # the old one (rollback), another
def test_another_version_after_the_restart_is_install_verification_failed(running):
    m = UpdateMachine()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=False)
    m.installed(True, None, T0 + 2)
    m.take()
    m = restarted(m)
    m.booted(running, T0 + 30, busy=False)
    assert m.take() == [Report(S.InstallVerificationFailed, 7)]
    assert not m.active


def test_an_image_the_installer_refuses_is_install_verification_failed_and_nothing_restarts():
    m = UpdateMachine()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=False)
    m.take()
    m.installed(False, None, T0 + 2, verification_failed=True)
    assert m.take() == [Report(S.InstallVerificationFailed, 7), ReleaseConnectors()]
    assert not m.active


def test_installer_reported_version_wins_over_the_file_name():
    m = UpdateMachine()
    m.request(req(location="http://h/image.bin"), T0)
    m.downloaded(T0 + 1, busy=False)
    m.installed(True, "2.8.0", T0 + 2)
    m = restarted(m)
    m.booted("2.8.0", T0 + 30, busy=False)
    assert statuses(m.take()) == [S.Installed]


def test_final_status_is_sent_once_not_again_at_later_boots():
    m = UpdateMachine()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=False)
    m.installed(True, None, T0 + 2)
    m = restarted(m)
    m.booted("2.7.1", T0 + 30, busy=False)
    m.take()
    m = restarted(m)
    m.booted("2.7.1", T0 + 90, busy=False)
    assert m.take() == []
    assert m.state.last_reported is S.Installed


def test_a_new_request_cancels_a_running_download_accepted_canceled():
    m = UpdateMachine()
    m.request(req(), T0)
    m.take()
    other = "http://h/fw-3.0.bin"
    assert m.request(req(request_id=8, location=other), T0 + 1) == "AcceptedCanceled"
    assert m.take() == [CancelDownload(), Report(S.Downloading, 8), StartDownload(other, 1)]
    assert m.state.request and m.state.request.request_id == 8
    m.downloaded(T0 + 2, busy=False)
    assert m.take()[0] == Report(S.Downloaded, 8)


def test_a_new_request_while_holding_connectors_releases_them():
    m = UpdateMachine()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=True)
    m.take()
    assert m.request(req(request_id=9, retrieve_at=T0 + 500), T0 + 2) == "AcceptedCanceled"
    assert m.take() == [ReleaseConnectors(), Report(S.DownloadScheduled, 9)]


def test_a_request_while_installing_is_rejected():
    m = UpdateMachine()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=False)
    m.take()
    assert m.request(req(request_id=8), T0 + 2) == "Rejected"
    assert m.take() == []
    assert m.status is S.Installing


def test_results_of_a_cancelled_transfer_are_ignored():
    m = UpdateMachine()
    m.request(req(retrieve_at=T0 + 100), T0)
    m.take()
    m.downloaded(T0 + 1, busy=False)
    m.download_failed("x", T0 + 1)
    assert m.take() == []


# --- a restart at every state -------------------------------------------------------------


def machine_in(status: S, signed: bool = False) -> UpdateMachine:
    if status in (S.Downloaded, S.SignatureVerified):  # passed through within one input
        state = UpdateState(status=status, request=req(signed=signed), attempt=1,
                            version="2.7.1", last_reported=status, last_request_id=7)  # fmt: skip
        return restarted(UpdateMachine(state))
    m = UpdateMachine()
    if status is S.DownloadScheduled:
        m.request(req(retrieve_at=T0 + 100, signed=signed), T0)
    else:
        install_at = T0 + 50 if status is S.InstallScheduled else None
        m.request(req(signed=signed, install_at=install_at), T0)
    if status in (S.Downloaded, S.SignatureVerified, S.InstallScheduled, S.Installing,
                  S.InstallRebooting):  # fmt: skip
        m.downloaded(T0 + 1, busy=False)
        if signed and status is not S.Downloaded:
            m.verified(True, "", T0 + 1, busy=False)
    if status is S.InstallRebooting:
        m.installed(True, None, T0 + 2)
    m.take()
    assert m.status is status
    return restarted(m)


def test_restart_in_download_scheduled_keeps_the_date():
    m = machine_in(S.DownloadScheduled)
    m.booted("2.6.0", T0 + 10, busy=False)
    assert m.take() == []
    m.tick(T0 + 100, busy=False)
    assert m.take() == [Report(S.Downloading, 7), StartDownload(URL, 1)]


def test_restart_while_downloading_resumes_the_same_attempt():
    m = machine_in(S.Downloading)
    m.booted("2.6.0", T0 + 10, busy=False)
    assert m.take() == [StartDownload(URL, 1)]


def test_restart_while_waiting_between_attempts_keeps_the_interval():
    m = UpdateMachine()
    m.request(req(retries=2, retry_interval_s=30), T0)
    m.download_failed("x", T0 + 1)
    m.take()
    m = restarted(m)
    m.booted("2.6.0", T0 + 5, busy=False)
    assert m.take() == []
    m.tick(T0 + 31, busy=False)
    assert m.take() == [StartDownload(URL, 2)]


def test_restart_when_downloaded_verifies_again_if_signed():
    m = machine_in(S.Downloaded, signed=True)
    m.booted("2.6.0", T0 + 10, busy=False)
    assert m.take() == [VerifySignature()]


def test_restart_when_downloaded_unsigned_goes_on_to_install():
    m = machine_in(S.Downloaded)
    m.booted("2.6.0", T0 + 10, busy=False)
    assert statuses(m.take()) == [S.Installing]


def test_restart_after_signature_verified_goes_on_to_install():
    m = machine_in(S.SignatureVerified, signed=True)
    m.booted("2.6.0", T0 + 10, busy=True)
    assert m.take() == [HoldConnectors(), Report(S.InstallScheduled, 7)]


def test_restart_in_install_scheduled_keeps_waiting_and_holds_again_when_due():
    m = machine_in(S.InstallScheduled)
    m.booted("2.6.0", T0 + 10, busy=False)
    assert m.take() == []
    m.tick(T0 + 50, busy=False)
    assert m.take() == [HoldConnectors(), Report(S.Installing, 7), Install("2.7.1")]


def test_restart_while_installing_with_the_old_version_is_installation_failed():
    m = machine_in(S.Installing)
    m.booted("2.6.0", T0 + 10, busy=False)
    assert m.take() == [Report(S.InstallationFailed, 7)]


def test_restart_while_installing_that_came_up_new_is_installed():
    m = machine_in(S.Installing)
    m.booted("2.7.1", T0 + 10, busy=False)
    assert statuses(m.take()) == [S.Installed]


def test_restart_in_install_rebooting_with_the_new_version_is_installed():
    m = machine_in(S.InstallRebooting)
    m.booted("2.7.1", T0 + 10, busy=False)
    assert statuses(m.take()) == [S.Installed]


@pytest.mark.parametrize("final", [S.DownloadFailed, S.InvalidSignature, S.InstallationFailed,
                                   S.InstallVerificationFailed])  # fmt: skip
def test_restart_after_a_failure_sends_nothing(final):
    m = UpdateMachine(UpdateState(status=final, request=req(), last_reported=final,
                                  last_request_id=7))  # fmt: skip
    m.booted("2.6.0", T0, busy=False)
    assert m.take() == []


def test_a_restart_gives_back_connectors_held_before_it():
    m = UpdateMachine()
    m.request(req(), T0)
    m.downloaded(T0 + 1, busy=True)
    assert m.state.holding
    m = restarted(m)
    m.booted("2.6.0", T0 + 5, busy=False)
    assert m.take() == [HoldConnectors(), Report(S.Installing, 7), Install("2.7.1")]
