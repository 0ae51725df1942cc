"""Fetch files over HTTPS with checksum verification and atomic writes.

A download streams into a temporary file in the target directory, hashing as it goes; only
a complete file whose SHA-256 matches is fsync'ed and renamed into place (``os.replace``),
so an interrupted or corrupted transfer never leaves a partial file under the final name.
Each mirror is tried in turn.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def _urlopen(url: str, timeout: float) -> Any:
    """Open ``url`` (tests replace this to serve fixture bytes)."""
    return urllib.request.urlopen(url, timeout=timeout)


def sha256sum(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_UMASK: int | None = None


def default_file_mode() -> int:
    """``0o666`` minus the process umask: what ``open(path, "w")`` would create.

    Temporary files come from ``mkstemp`` (mode 0600); they get this mode before being renamed
    into place, so finished files have the usual permissions.
    """
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


class DownloadError(RuntimeError):
    """No mirror delivered a file with the expected checksum."""


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike,
    sha256: str,
    size: int | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``dest`` from the first of ``urls`` that serves bytes with SHA-256 ``sha256``.

    Args:
        urls: mirrors to try in order.
        dest: final path; its directory is created if needed.
        sha256: expected hex digest of the whole file.
        size: expected size in bytes, if known (checked before hashing completes).

    Raises:
        DownloadError: every mirror failed; the message lists each URL and why, and where
            to place the file by hand. Nothing is left at ``dest`` or in its directory.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            n = 0
            with os.fdopen(fd, "wb") as out:
                with _urlopen(url, timeout) as response:
                    while True:
                        block = response.read(_CHUNK)
                        if not block:
                            break
                        n += len(block)
                        if size is not None and n > size:
                            raise DownloadError(f"more than the expected {size} bytes")
                        h.update(block)
                        out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if size is not None and n != size:
                raise DownloadError(f"got {n} bytes, expected {size} (transfer cut short?)")
            digest = h.hexdigest()
            if digest != sha256:
                raise DownloadError(f"SHA-256 mismatch: got {digest}, expected {sha256}")
            os.chmod(tmp, default_file_mode())
            os.replace(tmp, dest)
            _fsync_dir(dest.parent)
            return dest
        except BaseException as e:  # noqa: BLE001 -- also clean up on KeyboardInterrupt
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            if not isinstance(e, Exception):
                raise
            errors.append(f"  {url}: {type(e).__name__}: {e}")
    raise DownloadError(
        f"could not download {dest.name}:\n" + "\n".join(errors)
        + f"\nDownload it by hand from one of the URLs above and place it at {dest}"
    )
