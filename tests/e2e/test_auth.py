"""HTTP Basic auth to the CSMS (security profile 1)."""

from __future__ import annotations

import base64

from devcsms import Csms

from .conftest import STATION_ID, Station, wait_call, wait_until

PASSWORD = "Pa55-e2e-s3cret-xyz"


def token(password: str) -> str:
    return base64.b64encode(f"{STATION_ID}:{password}".encode()).decode()


async def test_basic_auth_connects_and_password_never_logged(csms: Csms, station: Station):
    csms.password = PASSWORD
    station.password = PASSWORD
    station.log_level = "debug"
    mark = await station.start()
    handshake = csms.handshakes[STATION_ID]
    assert (handshake.status, handshake.username) == (101, STATION_ID)
    await station.start_session(1, "TAG1")  # some traffic at debug level
    await station.sim("tag", "TAG1")
    await wait_call(csms, "StopTransaction", after=mark)
    await station.stop()
    log = station.log()
    assert "DEBUG" in log  # the debug level was in effect
    assert PASSWORD not in log
    assert token(PASSWORD) not in log


async def test_wrong_password_keeps_retrying_and_shows_link_down(csms: Csms, station: Station):
    csms.password = PASSWORD
    station.password = "not-the-password"
    station.log_level = "debug"
    await station.start(wait=False)

    def refusals() -> int:
        return sum(1 for h in csms.handshake_log if h.status == 401)

    await wait_until(lambda: refusals() >= 3, "three refused handshakes")
    assert STATION_ID not in csms.connected
    status = await station.status()
    assert status["link"]["state"] != "connected"
    assert "401" in (status["link"]["last_error"] or ""), status["link"]
    assert station.running
    before = refusals()
    await wait_until(lambda: refusals() > before, "the daemon to try again")
    assert "not-the-password" not in station.log()
