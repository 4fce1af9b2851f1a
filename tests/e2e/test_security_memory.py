"""A station on security profile 2 keeps `cryptography` out of its memory: it connects over
TLS, installs a root, has its CSR signed and verifies a signed firmware image — the checks
that need the library run in the security worker — and the daemon's process never maps
cryptography's Rust extension (about 10 MB with the OpenSSL it bundles)."""

from __future__ import annotations

from pathlib import Path

from devcsms import Csms
from tests.updates.servers import Site, http_server

from .conftest import STATION_ID, Station, wait_call
from .firmware_rig import image, until_final, with_firmware
from .pki import Authority, pem
from .test_firmware16 import signed
from .test_security16 import authority, csms, install, secure

__all__ = ["authority", "csms"]  # the TLS CSMS of test_security16


def mapped_files(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


async def test_certificates_and_a_signed_update_leave_no_cryptography_in_the_daemon(
    csms: Csms, station: Station, authority: Authority, tmp_path: Path
):
    secure(station, authority)
    maker = with_firmware(station)
    fw = image(tmp_path, "chargerd-fw-4.0.bin")
    site = Site(files={"/fw/chargerd-fw-4.0.bin": fw.read_bytes()})
    with http_server(site) as port:
        await station.start()
        assert await install(csms, Authority.make("Second CSMS Root").pem) == "Accepted"

        mark = len(csms.ledger.entries)
        trigger = {"requestedMessage": "SignChargePointCertificate"}
        assert await csms.call(STATION_ID, "ExtendedTriggerMessage", trigger) == {
            "status": "Accepted"
        }
        request = await wait_call(csms, "SignCertificate", after=mark)
        chain = pem(authority.sign_csr(request.payload["csr"]))
        answer = await csms.call(STATION_ID, "CertificateSigned", {"certificateChain": chain})
        assert answer == {"status": "Accepted"}

        mark = len(csms.ledger.entries)
        location = site.url(port, "/fw/chargerd-fw-4.0.bin")
        answer = await csms.call(STATION_ID, "SignedUpdateFirmware", signed(location, maker, fw))
        assert answer["status"] == "Accepted"
        sent = await until_final(csms, mark, "SignedFirmwareStatusNotification")
    assert sent[-1] == "Installed" and "SignatureVerified" in sent
    assert station.proc is not None
    maps = mapped_files(station.proc.pid)
    assert "_ssl" in maps  # the TLS link's OpenSSL: what the daemon does need
    assert "_rust.abi3.so" not in maps and "/cryptography/" not in maps
