"""Transfers against real servers on 127.0.0.1: HTTP (good, 404, a connection dropped
mid-file then resumed with Range, a server without Range, too big, Basic auth from the URL,
PUT and the POST fallback) and FTP with pyftpdlib (download, resume with REST, upload,
refused upload)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chargerd.updates.transfer import TransferError, download, safe_url, upload
from tests.updates.servers import Site, ftp_server, http_server

IMAGE = bytes(range(256)) * 4096  # 1 MiB
MB = 1_000_000


def test_safe_url_drops_credentials_and_query():
    url = "ftp://tech:s3cret@10.0.0.5:2121/fw/chargerd-fw-2.7.1.bin?token=abc#x"
    assert safe_url(url) == "ftp://10.0.0.5:2121/fw/chargerd-fw-2.7.1.bin"
    assert "s3cret" not in safe_url("https://u:s3cret@[::1]:8443/a")


async def test_http_download_of_a_good_image(tmp_path: Path):
    site = Site(files={"/fw/chargerd-fw-2.7.1.bin": IMAGE})
    with http_server(site) as port:
        dest = tmp_path / "image"
        await download(site.url(port, "/fw/chargerd-fw-2.7.1.bin"), dest, 10 * MB)
    assert dest.read_bytes() == IMAGE


async def test_http_404_is_a_transfer_error_naming_the_status(tmp_path: Path):
    with http_server(Site()) as port:
        with pytest.raises(TransferError) as failed:
            await download(f"http://127.0.0.1:{port}/missing.bin", tmp_path / "x", MB)
    assert "404" in failed.value.reason


async def test_a_download_dropped_mid_file_resumes_with_range(tmp_path: Path):
    site = Site(files={"/fw.bin": IMAGE}, drop_after={"/fw.bin": 300_000})
    dest = tmp_path / "image"
    with http_server(site) as port:
        with pytest.raises(TransferError):
            await download(site.url(port, "/fw.bin"), dest, 10 * MB)
        partial = dest.stat().st_size
        assert 0 < partial <= 300_000  # what arrived is kept for the next attempt
        await download(site.url(port, "/fw.bin"), dest, 10 * MB)
    assert dest.read_bytes() == IMAGE
    assert site.requests[-1] == ("GET", "/fw.bin", f"bytes={partial}-")


async def test_a_server_ignoring_range_sends_the_whole_file_again(tmp_path: Path):
    site = Site(files={"/fw.bin": IMAGE}, no_range={"/fw.bin"})
    dest = tmp_path / "image"
    dest.write_bytes(IMAGE[:1000])
    with http_server(site) as port:
        await download(site.url(port, "/fw.bin"), dest, 10 * MB)
    assert dest.read_bytes() == IMAGE


async def test_a_complete_partial_file_is_kept(tmp_path: Path):
    """A restart between the last byte and Downloaded: the server answers 416."""
    site = Site(files={"/fw.bin": IMAGE})
    dest = tmp_path / "image"
    dest.write_bytes(IMAGE)
    with http_server(site) as port:
        await download(site.url(port, "/fw.bin"), dest, 10 * MB)
    assert dest.read_bytes() == IMAGE


async def test_a_file_larger_than_the_bound_is_refused(tmp_path: Path):
    site = Site(files={"/big.bin": IMAGE})
    with http_server(site) as port:
        with pytest.raises(TransferError) as failed:
            await download(site.url(port, "/big.bin"), tmp_path / "x", 500_000)
    assert "max_size_mb" in failed.value.reason


async def test_basic_auth_from_the_url_is_used_and_never_logged(tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG)
    site = Site(files={"/fw.bin": IMAGE}, password=("maker", "s3cret"))
    with http_server(site) as port:
        url = f"http://maker:s3cret@127.0.0.1:{port}/fw.bin?token=t0ken"
        await download(url, tmp_path / "image", 10 * MB)
        with pytest.raises(TransferError) as failed:
            await download(f"http://maker:wrong@127.0.0.1:{port}/fw.bin", tmp_path / "y", MB)
    assert "401" in failed.value.reason
    assert "s3cret" not in caplog.text and "t0ken" not in caplog.text


@pytest.mark.parametrize("location", ["not a url", "http:///nohost", "sftp://h/fw.bin"])
async def test_an_unusable_location_fails_at_once(tmp_path: Path, location):
    with pytest.raises(TransferError) as failed:
        await download(location, tmp_path / "x", MB)
    assert failed.value.kind in ("BadMessage", "NotSupportedOperation")


async def test_http_upload_puts_the_file_into_a_directory_url(tmp_path: Path):
    bundle = tmp_path / "diagnostics.tar.gz"
    bundle.write_bytes(b"bundle")
    site = Site()
    with http_server(site) as port:
        await upload(site.url(port, "/logs/"), bundle)
    assert site.uploads == {"/logs/diagnostics.tar.gz": b"bundle"}


async def test_http_upload_falls_back_to_post_when_put_is_not_allowed(tmp_path: Path):
    bundle = tmp_path / "diagnostics.tar.gz"
    bundle.write_bytes(b"bundle")
    site = Site(no_put=True)
    with http_server(site) as port:
        await upload(site.url(port, "/logs/"), bundle)
    assert [r[0] for r in site.requests] == ["PUT", "POST"]
    assert site.uploads == {"/logs/diagnostics.tar.gz": b"bundle"}


async def test_http_upload_refused_is_permission_denied(tmp_path: Path):
    bundle = tmp_path / "d.tar.gz"
    bundle.write_bytes(b"x")
    with http_server(Site(password=("a", "b"))) as port:
        with pytest.raises(TransferError) as failed:
            await upload(f"http://127.0.0.1:{port}/logs/", bundle)
    assert failed.value.kind == "PermissionDenied"


async def test_ftp_download_with_user_and_password(tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG)
    root = tmp_path / "ftp"
    (root / "fw").mkdir(parents=True)
    (root / "fw" / "chargerd-fw-2.7.1.bin").write_bytes(IMAGE)
    dest = tmp_path / "image"
    with ftp_server(root) as port:
        url = f"ftp://tech:s3cret@127.0.0.1:{port}/fw/chargerd-fw-2.7.1.bin"
        await download(url, dest, 10 * MB)
    assert dest.read_bytes() == IMAGE
    assert "s3cret" not in caplog.text


async def test_ftp_download_resumes_a_partial_file_with_rest(tmp_path: Path):
    root = tmp_path / "ftp"
    root.mkdir()
    (root / "fw.bin").write_bytes(IMAGE)
    dest = tmp_path / "image"
    dest.write_bytes(IMAGE[:123_456])
    with ftp_server(root) as port:
        await download(f"ftp://tech:s3cret@127.0.0.1:{port}/fw.bin", dest, 10 * MB)
    assert dest.read_bytes() == IMAGE


async def test_ftp_download_of_a_missing_file_fails_with_the_servers_answer(tmp_path: Path):
    root = tmp_path / "ftp"
    root.mkdir()
    with ftp_server(root) as port:
        with pytest.raises(TransferError) as failed:
            await download(f"ftp://tech:s3cret@127.0.0.1:{port}/nope.bin", tmp_path / "x", MB)
    assert "550" in failed.value.reason or "server said" in failed.value.reason


async def test_ftp_upload_stores_the_file(tmp_path: Path):
    root = tmp_path / "ftp"
    (root / "logs").mkdir(parents=True)
    bundle = tmp_path / "diagnostics.tar.gz"
    bundle.write_bytes(IMAGE)
    with ftp_server(root) as port:
        await upload(f"ftp://tech:s3cret@127.0.0.1:{port}/logs/", bundle)
    assert (root / "logs" / "diagnostics.tar.gz").read_bytes() == IMAGE


async def test_ftp_upload_without_write_permission_is_permission_denied(tmp_path: Path):
    root = tmp_path / "ftp"
    root.mkdir()
    bundle = tmp_path / "d.tar.gz"
    bundle.write_bytes(b"x")
    with ftp_server(root) as port:
        with pytest.raises(TransferError) as failed:
            await upload(f"ftp://reader:r@127.0.0.1:{port}/", bundle)
    assert failed.value.kind == "PermissionDenied"


async def test_a_stale_longer_partial_file_is_fetched_again_with_the_same_credentials(
    tmp_path: Path,
):
    site = Site(files={"/fw.bin": IMAGE}, password=("maker", "s3cret"))
    dest = tmp_path / "image"
    dest.write_bytes(b"x" * (len(IMAGE) + 10))
    with http_server(site) as port:
        await download(f"http://maker:s3cret@127.0.0.1:{port}/fw.bin", dest, 10 * MB)
    assert dest.read_bytes() == IMAGE
