"""A filesystem that forgets what was never fsync'd: power cuts for tests (FUSE via mfusepy).

`kill -9` keeps the kernel's page cache, so it cannot show what a power cut does to data a
program wrote but did not sync. This passthrough filesystem over a backing directory keeps
the page cache in its own memory instead, and can lose it on command:

- File data (write, truncate) stays in this process's memory until that file is fsync'd or
  fdatasync'd; reads see it (the page cache, while the power is on). fsync applies the file
  as the program sees it to the backing file. Close does not sync, as on a real disk.
- Namespace operations (create, mkdir, unlink, rename, rmdir, chmod, utimens) reach the
  backing directory at once, as a journaling filesystem commits metadata: after a cut a file
  that was created exists, with the bytes last synced (none, for a new one).
- SQLite's wal-index (`*-shm`) passes through (no direct_io: SQLite mmaps it). That is
  faithful: the wal-index is transient — "After a crash, the wal-index is reconstructed from
  the original WAL file" (sqlite.org/fileformat2.html §4.5) — and the unix VFS truncates the
  -shm file when the first connection opens the database, so nothing in it outlives the
  processes that had it open, power cut or not.
- `cut()` is the power cut: every unsynced byte is dropped (optionally a random share of
  the dirty 4 KiB blocks is written first, as a disk's write-back may have done). Kill the
  programs using the mount first: a cut under a running program would be a disk that lies.

Every other file is opened with direct_io, so the kernel caches nothing of it: what a
restarted program reads is what this process holds. Run as a process, one mount each:

    python tests/support/powercut_fs.py BACKING MOUNTPOINT CONTROL_SOCKET

and drive it with `PowerCutMount` (start, cut, unmount). Needs /dev/fuse, fusermount3
(Debian: fuse3) and the mfusepy package; `fuse_missing()` says which is absent.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK = 4096  # the unit a disk's write-back persists (for cuts that keep some of it)
START_WAIT_S = 10.0
PASSTHROUGH_SUFFIX = "-shm"


def fuse_missing() -> str | None:
    """What this machine lacks for a FUSE mount, or None when it has everything."""
    problems = []
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse does not exist (a container needs --device /dev/fuse)")
    elif not os.access("/dev/fuse", os.R_OK | os.W_OK):
        problems.append("/dev/fuse is not readable and writable by this user")
    if shutil.which("fusermount3") is None:
        problems.append("fusermount3 is not installed (Debian/Ubuntu: apt-get install fuse3)")
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: libfuse3.so.3 missing
        problems.append(f"mfusepy cannot be loaded ({exc}); pip install mfusepy, libfuse3-3")
    return "; ".join(problems) or None


# --------------------------------------------------------------------------- the filesystem


@dataclass
class Unsynced:
    """One file's data as the programs see it, written since its last fsync."""

    data: bytearray
    dirty: set[int] = field(default_factory=set)  # block numbers written


@dataclass
class Handle:
    fd: int  # the backing file, opened read-write
    ino: int  # the backing inode: unsynced data follows the file across renames
    passthrough: bool


class ForgetfulFs:
    """The FUSE operations (mfusepy, raw_fi). One lock: operations and cuts never interleave."""

    use_ns = True

    def __init__(self, backing: Path) -> None:
        self.root = backing
        self.mutex = threading.Lock()
        self.unsynced: dict[int, Unsynced] = {}
        self.handles: dict[int, Handle] = {}
        self.next_fh = 1
        self.fsyncs = 0
        self.cuts = 0

    def _path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    # ---- start-up: nothing cached in the kernel, so a restarted program reads what we hold

    def init_with_config(self, conn_info: Any, config: Any) -> None:
        if config is not None:
            config.attr_timeout = 0.0
            config.entry_timeout = 0.0
            config.negative_timeout = 0.0

    # ---- attributes and namespace: applied at once

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        st = os.lstat(self._path(path))
        attrs = {key: getattr(st, key) for key in (
            "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino",
        )}  # fmt: skip
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        with self.mutex:
            pending = self.unsynced.get(st.st_ino)
            if pending is not None:
                attrs["st_size"] = len(pending.data)
        return attrs

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", *os.listdir(self._path(path))]

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._path(path), amode):
            raise OSError(errno.EACCES, "access")
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._path(path))
        return {key: getattr(st, key) for key in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
            "f_flag", "f_frsize", "f_namemax",
        )}  # fmt: skip

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._path(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._path(path))
        return 0

    def unlink(self, path: str) -> int:
        target = self._path(path)
        st = os.lstat(target)
        os.unlink(target)
        if st.st_nlink <= 1:
            with self.mutex:  # the inode number may be reused: forget its data
                self.unsynced.pop(st.st_ino, None)
        return 0

    def rename(self, old: str, new: str) -> int:
        os.rename(self._path(old), self._path(new))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._path(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        os.utime(self._path(path), ns=times)
        return 0

    # ---- open files

    def _register(self, path: str, fd: int, fi: Any) -> int:
        passthrough = path.endswith(PASSTHROUGH_SUFFIX)
        with self.mutex:
            fh = self.next_fh
            self.next_fh += 1
            self.handles[fh] = Handle(fd, os.fstat(fd).st_ino, passthrough)
        fi.fh = fh
        fi.direct_io = 0 if passthrough else 1
        return 0

    def open(self, path: str, fi: Any) -> int:
        # read-write whatever was asked: fsync of a read-only descriptor must still apply
        # data; no O_APPEND: the kernel gives appends their offset, and pwrite must obey it
        return self._register(path, os.open(self._path(path), os.O_RDWR), fi)

    def create(self, path: str, mode: int, fi: Any) -> int:
        flags = os.O_RDWR | os.O_CREAT | (fi.flags & os.O_EXCL)
        return self._register(path, os.open(self._path(path), flags, mode), fi)

    def release(self, path: str | None, fi: Any) -> int:
        with self.mutex:
            handle = self.handles.pop(fi.fh, None)
        if handle is not None:
            os.close(handle.fd)
        return 0

    def flush(self, path: str | None, fi: Any) -> int:
        return 0  # close is not a sync

    def _file(self, handle: Handle) -> Unsynced:
        """The file's page cache, read from the backing file on first use (lock held)."""
        pending = self.unsynced.get(handle.ino)
        if pending is None:
            size = os.fstat(handle.fd).st_size
            pending = Unsynced(bytearray(os.pread(handle.fd, size, 0)))
            self.unsynced[handle.ino] = pending
        return pending

    def read(self, path: str | None, size: int, offset: int, fi: Any) -> bytes:
        with self.mutex:
            handle = self.handles[fi.fh]
            pending = self.unsynced.get(handle.ino)
            if pending is not None:
                return bytes(pending.data[offset : offset + size])
            return os.pread(handle.fd, size, offset)

    def write(self, path: str | None, data: bytes, offset: int, fi: Any) -> int:
        with self.mutex:
            handle = self.handles[fi.fh]
            if handle.passthrough:
                return os.pwrite(handle.fd, data, offset)
            pending = self._file(handle)
            end = offset + len(data)
            if end > len(pending.data):
                pending.data.extend(bytes(end - len(pending.data)))
            pending.data[offset:end] = data
            pending.dirty.update(range(offset // BLOCK, (end - 1) // BLOCK + 1))
            return len(data)

    def truncate(self, path: str | None, length: int, fi: Any = None) -> int:
        with self.mutex:
            if fi is not None and fi.fh in self.handles:
                handle = self.handles[fi.fh]
                return self._truncate(handle, length)
        fd = os.open(self._path(path or "/"), os.O_RDWR)
        try:
            with self.mutex:
                return self._truncate(Handle(fd, os.fstat(fd).st_ino, False), length, path)
        finally:
            os.close(fd)

    def _truncate(self, handle: Handle, length: int, path: str | None = None) -> int:
        if handle.passthrough or (path or "").endswith(PASSTHROUGH_SUFFIX):
            os.ftruncate(handle.fd, length)
            return 0
        pending = self._file(handle)
        if length < len(pending.data):
            del pending.data[length:]
        else:
            pending.data.extend(bytes(length - len(pending.data)))
        return 0

    def fsync(self, path: str | None, datasync: int, fi: Any) -> int:
        with self.mutex:
            handle = self.handles[fi.fh]
            pending = self.unsynced.pop(handle.ino, None)
            self.fsyncs += 1
            if pending is not None:
                _apply(handle.fd, pending, pending.dirty)
        # no os.fsync of the backing file: this host keeps its power; the model is the point
        return 0

    # ---- the power cut

    def cut(self, keep: float, rng: random.Random) -> tuple[int, int]:
        """Lose the unsynced data of every file; a `keep` share of its dirty blocks is written
        first, chosen at random. Returns (bytes dropped, blocks kept)."""
        dropped = kept = 0
        with self.mutex:
            for ino, pending in self.unsynced.items():
                blocks = sorted(b for b in pending.dirty if rng.random() < keep)
                if blocks:
                    fd = _open_inode(self.root, ino)
                    if fd is not None:
                        try:
                            _apply(fd, pending, set(blocks), truncate=False)
                        finally:
                            os.close(fd)
                        kept += len(blocks)
                dropped += len(pending.dirty) * BLOCK
            self.unsynced.clear()
            self.cuts += 1
        return dropped, kept


def _apply(fd: int, pending: Unsynced, blocks: set[int], truncate: bool = True) -> None:
    """Write `blocks` of the page cache to the backing file (and its size, when `truncate`)."""
    if truncate:
        os.ftruncate(fd, len(pending.data))
    for block in sorted(blocks):
        start = block * BLOCK
        chunk = pending.data[start : start + BLOCK]
        if chunk:
            os.pwrite(fd, chunk, start)


def _open_inode(root: Path, ino: int) -> int | None:
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if os.lstat(path).st_ino == ino:
                return os.open(path, os.O_RDWR)
    return None  # unlinked since: nothing to keep


# --------------------------------------------------------------------------- the process


def _serve_control(fs: ForgetfulFs, control: Path) -> None:
    """Line commands on a Unix socket: `cut KEEP SEED` → `ok DROPPED KEPT`; `stats` →
    `ok UNSYNCED_FILES FSYNCS CUTS`."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(control))
    server.listen()
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rw") as stream:
            for line in stream:
                words = line.split()
                if words and words[0] == "cut":
                    dropped, kept = fs.cut(float(words[1]), random.Random(int(words[2])))
                    stream.write(f"ok {dropped} {kept}\n")
                elif words == ["stats"]:
                    with fs.mutex:
                        stream.write(f"ok {len(fs.unsynced)} {fs.fsyncs} {fs.cuts}\n")
                else:
                    stream.write(f"error unknown command {line.strip()!r}\n")
                stream.flush()


def main(argv: list[str]) -> int:
    from mfusepy import FUSE

    backing, mountpoint, control = (Path(a) for a in argv)
    fs = ForgetfulFs(backing)
    threading.Thread(target=_serve_control, args=(fs, control), daemon=True).start()
    # one thread: operations arrive in the order the kernel sends them
    FUSE(fs, str(mountpoint), raw_fi=True, foreground=True, nothreads=True, fsname="powercut")
    return 0


# --------------------------------------------------------------------------- the client


class PowerCutMount:
    """A mounted ForgetfulFs in its own process: `mountpoint` for the program under test,
    `cut()` after that program was killed, `unmount()` at the end."""

    def __init__(self, workdir: Path) -> None:
        self.backing = workdir / "disk"
        self.mountpoint = workdir / "mnt"
        self.control = workdir / "powercut.sock"
        self.log_path = workdir / "powercut-fs.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PowerCutMount:
        missing = fuse_missing()
        if missing:
            raise RuntimeError(f"cannot simulate power cuts: {missing}")
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, str(self.backing), str(self.mountpoint),
                 str(self.control)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + START_WAIT_S
        while not (os.path.ismount(self.mountpoint) and self.control.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.unmount()
                raise RuntimeError(
                    f"the power-cut filesystem did not mount on {self.mountpoint}: "
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            time.sleep(0.02)
        return self

    def _ask(self, command: str) -> list[int]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(30)
            conn.connect(str(self.control))
            conn.sendall(f"{command}\n".encode())
            answer = conn.makefile().readline().split()
        if not answer or answer[0] != "ok":
            raise RuntimeError(f"power-cut filesystem: {command!r} → {' '.join(answer)}")
        return [int(word) for word in answer[1:]]

    def cut(self, keep: float = 0.0, seed: int = 0) -> tuple[int, int]:
        """The power goes: unsynced data is lost. Returns (bytes dropped, blocks kept)."""
        dropped, kept = self._ask(f"cut {keep} {seed}")
        return dropped, kept

    def unsynced_files(self) -> int:
        return self._ask("stats")[0]

    def unmount(self) -> None:
        if self.proc is None:
            return
        if os.path.ismount(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], check=False,
                           capture_output=True)  # fmt: skip
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> PowerCutMount:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.unmount()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
