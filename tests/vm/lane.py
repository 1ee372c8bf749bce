"""The QEMU VM test lane: boot Debian's stock kernel and run the `vm`-marked tests inside.

Why a VM: the development kernel has no kprobes and refuses fentry, so those paths can
only be exercised on a distribution kernel that has them. The host's root file system is
shared read-only over virtio-9p (same Python, same checkout), a tiny busybox initramfs
mounts it, runs pytest as root in a chroot, writes the output to a read-write 9p share
and powers off. All tests run in one boot because TCG makes everything 10-20x slower.

Usage: tests/vm/run [pytest args...]   (see README "VM test lane")
Kernel: the exact Debian build in tests/vm/KERNEL (how to move it is written there);
when apt no longer serves it the newest linux-image-amd64 is booted with a WARNING.
Environment: BPFSCOPE_VM_CACHE (default /var/cache/bpfscope-vm), BPFSCOPE_VM_KERNEL
(apt "package[=version]" instead of tests/vm/KERNEL), BPFSCOPE_VM_TIMEOUT (seconds, default 900),
BPFSCOPE_VM_MEM (default 2048M), BPFSCOPE_VM_SMP (default 2), BPFSCOPE_VM_ACCEL
(auto|kvm|tcg), BPFSCOPE_VM_VERBOSE=1 (echo the serial console).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NoReturn

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(os.path.dirname(HERE))
MODULES = ("virtio_mmio", "9pnet_virtio", "9p")

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /host
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.list); do insmod /mod/$m || echo "insmod $m failed"; done
OUT=$(sed -n 's/.*bpfscope.out=\([^ ]*\).*/\1/p' /proc/cmdline)
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host || {
  echo "bpfscope-vm: cannot mount the host root"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /host$OUT || echo "no out share"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts 2>/dev/null; mount -t devpts devpts /host/dev/pts 2>/dev/null
# a checkout under /tmp or /run (a CI clone) would vanish under the writable tmpfs: bind it back
CK=$(sed -n 's/.*bpfscope.ck=\([^ ]*\).*/\1/p' /proc/cmdline)
case "$CK" in /tmp/*|/run/*) mkdir -p /ck && mount -o bind /host$CK /ck ;; *) CK= ;; esac
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
if [ -n "$CK" ]; then mkdir -p /host$CK && mount -o bind /ck /host$CK; fi
mount -t tracefs tracefs /host/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /host/sys/kernel/debug 2>/dev/null
mount -t bpf bpf /host/sys/fs/bpf 2>/dev/null
mount -t securityfs securityfs /host/sys/kernel/security 2>/dev/null
echo "bpfscope-vm: running tests"
chroot /host /bin/sh $OUT/inner.sh
sync
poweroff -f
reboot -f
"""

INNER = """#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
export PYTHONPATH={src} BPFSCOPE_VM=1 BPFSCOPE_PYTHON={py} BPFSCOPE_CHECKOUT={checkout}
cd {checkout}
uname -r > {out}/uname
{py} -m pytest -m vm -o addopts= -p no:cacheprovider {args} > {out}/pytest.log 2>&1
echo $? > {out}/rc
"""


def log(msg: str) -> None:
    print(f"vm-lane: {msg}", file=sys.stderr, flush=True)


def die(msg: str, code: int = 2) -> NoReturn:
    log(msg)
    sys.exit(code)


def real_python() -> str:
    """The interpreter's real path: a pyenv shim costs ~10 s per start under TCG."""
    return os.path.realpath(sys.executable)


def _run(cmd: list[str], cwd: str | None = None) -> str:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"{' '.join(cmd)} failed:\n{r.stderr.strip()}")
    return r.stdout


PIN_FILE = os.path.join(HERE, "KERNEL")
FALLBACK_META = "linux-image-amd64"


def pinned_kernel() -> str:
    """apt's "package=version" of the kernel the lane boots: BPFSCOPE_VM_KERNEL, else tests/vm/KERNEL."""
    env = os.environ.get("BPFSCOPE_VM_KERNEL", "").strip()
    if env:
        return env
    with open(PIN_FILE) as f:
        lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        die(f"{PIN_FILE} must hold exactly one 'package=version' line")
    return lines[0]


def _apt_download(spec: str, dl: str) -> str | None:
    """`apt-get download spec` into dl; the .deb's path, or None when apt cannot get it."""
    for old in glob.glob(os.path.join(dl, "*.deb")):
        os.unlink(old)
    r = subprocess.run(["apt-get", "download", spec], cwd=dl, capture_output=True, text=True)
    debs = glob.glob(os.path.join(dl, "*.deb"))
    if r.returncode != 0 or len(debs) != 1:
        log(f"apt-get download {spec}: {(r.stderr.strip().splitlines() or ['no .deb'])[-1]}")
        return None
    return debs[0]


def _newest_image(dl: str) -> str | None:
    """The versioned image the metapackage points at now (Debian's current build)."""
    meta = _apt_download(FALLBACK_META, dl)
    if meta is None:
        return None
    depends = _run(["dpkg-deb", "-f", meta, "Depends"]).strip()
    os.unlink(meta)
    for dep in depends.split(","):   # "linux-image-6.1.0-NN-amd64 (= 6.1.x-y)"
        m = dep.strip().split(" ", 1)
        if m[0].startswith("linux-image-"):
            ver = m[1].strip("()= ") if len(m) > 1 else ""
            return f"{m[0]}={ver}" if ver else m[0]
    return None


def _unpack(deb: str, cache: str, key: str) -> str:
    """dpkg -x the image into cache/kernels/<key> (with modules.dep); returns that dir."""
    tmp = tempfile.mkdtemp(dir=cache, prefix="unpack-")
    _run(["dpkg", "-x", deb, tmp])
    kernels = glob.glob(os.path.join(tmp, "boot", "vmlinuz-*"))
    if not kernels:
        die(f"{deb} holds no /boot/vmlinuz-*")
    kver = os.path.basename(kernels[0])[len("vmlinuz-"):]
    _run(["depmod", "-b", tmp, kver])
    target = os.path.join(cache, "kernels", key)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(tmp, target)
    return target


def _kernel_paths(root: str) -> tuple[str, str]:
    """(vmlinuz, modules dir) of an unpacked kernel; other cached kernels (a moved pin) go."""
    for other in glob.glob(os.path.join(os.path.dirname(root), "*")):
        if os.path.realpath(other) != os.path.realpath(root):
            shutil.rmtree(other, ignore_errors=True)
    vmlinuz = glob.glob(os.path.join(root, "boot", "vmlinuz-*"))[0]
    kver = os.path.basename(vmlinuz)[len("vmlinuz-"):]
    return vmlinuz, os.path.join(root, "lib", "modules", kver)


def _cache_key(spec: str) -> str:
    return spec.replace("=", "_").replace("/", "_")


def fetch_kernel(cache: str) -> tuple[str, str]:
    """The pinned kernel (downloaded and unpacked once); returns (vmlinuz, modules dir).

    When apt no longer serves the pinned build, boot Debian's newest one with a WARNING
    (and, offline, the newest cached one): a moved archive must not fail the lane.
    """
    for tool in ("apt-get", "dpkg", "dpkg-deb", "depmod"):
        if shutil.which(tool) is None:
            die(f"missing {tool}: install kmod and run on a Debian-based host")
    pin = pinned_kernel()
    kernels = os.path.join(cache, "kernels")
    shutil.rmtree(os.path.join(cache, "kernel"), ignore_errors=True)   # the unpinned lane's layout
    cached = os.path.join(kernels, _cache_key(pin))
    if glob.glob(os.path.join(cached, "boot", "vmlinuz-*")) and not os.environ.get("BPFSCOPE_VM_REFRESH"):
        return _kernel_paths(cached)
    dl = tempfile.mkdtemp(dir=cache, prefix="dl-")   # private: lanes may run side by side
    os.chmod(dl, 0o755)                               # apt's _apt user writes here
    try:
        return _fetch(pin, dl, kernels)
    finally:
        shutil.rmtree(dl, ignore_errors=True)


def _fetch(pin: str, dl: str, kernels: str) -> tuple[str, str]:
    if pin.split("=")[0] == FALLBACK_META:   # BPFSCOPE_VM_KERNEL=linux-image-amd64: today's build
        pin = _newest_image(dl) or die(f"cannot download {FALLBACK_META}")
        if glob.glob(os.path.join(kernels, _cache_key(pin), "boot", "vmlinuz-*")):
            return _kernel_paths(os.path.join(kernels, _cache_key(pin)))
    log(f"fetching {pin} with apt-get download")
    deb = _apt_download(pin, dl)
    spec = pin
    if deb is None:
        newest = _newest_image(dl)
        if newest is not None:
            spec = newest
            newest_dir = os.path.join(kernels, _cache_key(newest))
            if glob.glob(os.path.join(newest_dir, "boot", "vmlinuz-*")):
                _warn_unpinned(pin, newest)
                return _kernel_paths(newest_dir)
            deb = _apt_download(newest, dl)
        if deb is None:
            have = sorted(glob.glob(os.path.join(kernels, "*", "boot", "vmlinuz-*")), key=os.path.getmtime)
            if not have:
                die(f"cannot download {pin} nor {FALLBACK_META} (apt-get update? network?)")
            root = os.path.dirname(os.path.dirname(have[-1]))
            _warn_unpinned(pin, os.path.basename(root) + " (cached; apt unavailable)")
            return _kernel_paths(root)
        _warn_unpinned(pin, spec)
    return _kernel_paths(_unpack(deb, os.path.dirname(kernels), _cache_key(spec)))


def _warn_unpinned(pin: str, used: str) -> None:
    log(f"WARNING: pinned kernel {pin} (tests/vm/KERNEL) is not downloadable any more; "
        f"testing {used} instead. Move the pin: see the comment in tests/vm/KERNEL.")


def module_closure(moddir: str, names: tuple[str, ...]) -> list[str]:
    """Module paths (relative to moddir) for `names` and their dependencies, load order first."""
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
            base = os.path.basename(path).split(".ko")[0].replace("-", "_")
            by_name[base] = path
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for d in deps.get(path, []):
            visit(d)
        order.append(path)

    for n in names:
        if n not in by_name:
            with open(os.path.join(moddir, "modules.builtin")) as f:
                if any(os.path.basename(x).startswith(n + ".ko") for x in f.read().split()):
                    continue
            die(f"kernel module {n} not found in {moddir}")
        visit(by_name[n])
    return order


def build_initramfs(cache: str, moddir: str) -> str:
    """A newc cpio with busybox, the init script and the 9p/virtio modules (cached by content)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox) or shutil.which("cpio") is None:
        die("missing busybox-static or cpio (apt-get install busybox-static cpio)")
    mods = module_closure(moddir, MODULES)
    h = hashlib.sha256(INIT.encode())
    for p in [busybox, *[os.path.join(moddir, m) for m in mods]]:
        st = os.stat(p)
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    target = os.path.join(cache, f"initramfs-{h.hexdigest()[:16]}.cpio")
    if os.path.exists(target):
        return target
    root = tempfile.mkdtemp(dir=cache, prefix="initrd-")
    try:
        for d in ("bin", "mod", "proc", "sys", "dev", "host"):
            os.makedirs(os.path.join(root, d))
        shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
        names = []
        for m in mods:
            src = os.path.join(moddir, m)
            name = os.path.basename(m)
            data: bytes
            with open(src, "rb") as f:
                data = f.read()
            if name.endswith(".xz"):
                import lzma

                data, name = lzma.decompress(data), name[:-3]
            elif name.endswith(".gz"):
                import gzip

                data, name = gzip.decompress(data), name[:-3]
            elif name.endswith(".zst"):
                data = subprocess.run(["zstd", "-dc", src], capture_output=True, check=True).stdout
                name = name[:-4]
            with open(os.path.join(root, "mod", name), "wb") as f:
                f.write(data)
            names.append(name)
        with open(os.path.join(root, "modules.list"), "w") as f:
            f.write("\n".join(names) + "\n")
        with open(os.path.join(root, "init"), "w") as f:
            f.write(INIT)
        os.chmod(os.path.join(root, "init"), 0o755)
        files = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True, check=True).stdout
        with open(target + ".tmp", "wb") as out:
            subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files.encode(),
                           stdout=out, check=True)
        os.rename(target + ".tmp", target)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return target


def accel() -> str:
    """KVM only with a real kvm_intel/kvm_amd module: nested software hypervisors can't boot it."""
    choice = os.environ.get("BPFSCOPE_VM_ACCEL", "auto")
    if choice in ("kvm", "tcg"):
        return choice
    hw = any(os.path.isdir(f"/sys/module/{m}") for m in ("kvm_intel", "kvm_amd"))
    return "kvm" if hw and os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"


def _tsc_khz() -> str:
    """`tsc_early_khz=` for a TCG guest: its TSC ticks at the host's rate, and measuring it
    against the emulated PIT fails when the host is busy ("tsc: Unable to calibrate against
    PIT" ... "could not calculate TSC khz"), after which the boot wedged before init."""
    try:
        with open("/proc/cpuinfo") as f:
            mhz = next(float(ln.split(":", 1)[1]) for ln in f if ln.startswith("cpu MHz"))
    except (OSError, StopIteration, ValueError):
        return ""
    return f" tsc_early_khz={int(mhz * 1000)}"


def _quiet() -> str:
    return "loglevel=7" if os.environ.get("BPFSCOPE_VM_VERBOSE") else "quiet loglevel=4"


def qemu_cmd(kernel: str, initrd: str, out: str) -> list[str]:
    acc = accel()
    cpu = "host" if acc == "kvm" else "max"
    share = "security_model=none,multidevs=remap"
    return [
        "qemu-system-x86_64", "-machine", f"microvm,accel={acc}", "-cpu", cpu,
        "-smp", os.environ.get("BPFSCOPE_VM_SMP", "2"), "-m", os.environ.get("BPFSCOPE_VM_MEM", "2048M"),
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-serial", f"file:{out}/console.log",
        "-kernel", kernel, "-initrd", initrd,
        "-append", f"console=ttyS0 panic=-1 {_quiet()} random.trust_cpu=on bpfscope.out={out} "
                   f"bpfscope.ck={CHECKOUT}" + (_tsc_khz() if acc == "tcg" else ""),
        "-fsdev", f"local,id=hostroot,path=/,readonly=on,{share}",
        "-device", "virtio-9p-device,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev", f"local,id=out,path={out},{share}",
        "-device", "virtio-9p-device,fsdev=out,mount_tag=out",
    ]


BOOT_TIMEOUT = float(os.environ.get("BPFSCOPE_VM_BOOT_TIMEOUT", "180"))   # TCG on a busy host is slow
READY = "bpfscope-vm: running tests"


def boot(cmd: list[str], out: str, timeout: float) -> tuple[str, bytes]:
    """Run QEMU once: "done", "timeout", or "noboot" when init never started (a TCG boot
    occasionally wedges; one retry is cheaper than a lost lane)."""
    console = os.path.join(out, "console.log")
    with open(os.path.join(out, "qemu.log"), "wb") as qlog:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        status = "done"
        while proc.poll() is None:
            elapsed = time.monotonic() - t0
            if elapsed > BOOT_TIMEOUT and READY not in _read(console):
                status = "noboot"
            elif elapsed > timeout:
                status = "timeout"
                log(f"timed out after {timeout:.0f} s")
            if status != "done":
                proc.kill()
                proc.wait()
                break
            time.sleep(0.5)
    return status, _read(os.path.join(out, "qemu.log")).encode()


def main(argv: list[str]) -> int:
    t0 = time.monotonic()
    if shutil.which("qemu-system-x86_64") is None:
        die("missing qemu-system-x86_64 (apt-get install --no-install-recommends qemu-system-x86)")
    cache = os.environ.get("BPFSCOPE_VM_CACHE", "/var/cache/bpfscope-vm")
    os.makedirs(cache, exist_ok=True)
    kernel, moddir = fetch_kernel(cache)
    initrd = build_initramfs(cache, moddir)
    os.makedirs(os.path.join(cache, "runs"), exist_ok=True)
    for old in sorted(glob.glob(os.path.join(cache, "runs", "*")))[:-5]:   # keep a few failed runs
        shutil.rmtree(old, ignore_errors=True)
    out = tempfile.mkdtemp(dir=os.path.join(cache, "runs"), prefix=time.strftime("%Y%m%d-%H%M%S-"))
    args = " ".join(_sh_quote(a) for a in (argv or ["-q", "-rA", "tests/vm"]))
    with open(os.path.join(out, "inner.sh"), "w") as f:
        f.write(INNER.format(src=os.path.join(CHECKOUT, "src"), py=real_python(), checkout=CHECKOUT,
                             out=out, args=args))
    timeout = float(os.environ.get("BPFSCOPE_VM_TIMEOUT", "900"))
    cmd = qemu_cmd(kernel, initrd, out)
    qemu_out = b""
    for attempt in (1, 2):
        log(f"booting {os.path.basename(kernel)} ({accel()}), results in {out}")
        status, qemu_out = boot(cmd, out, timeout)
        if status != "noboot":
            break
        log(f"no sign of init after {BOOT_TIMEOUT} s (attempt {attempt}); console tail:\n"
            + "\n".join(_read(os.path.join(out, "console.log")).splitlines()[-15:]))
    console = _read(os.path.join(out, "console.log"))
    if os.environ.get("BPFSCOPE_VM_VERBOSE"):
        sys.stderr.write(console)
    result = _read(os.path.join(out, "pytest.log"))
    rc_text = _read(os.path.join(out, "rc")).strip()
    sys.stdout.write(result)
    sys.stdout.flush()
    if not rc_text.isdigit():
        sys.stderr.write(qemu_out.decode(errors="replace"))
        sys.stderr.write("---- serial console (tail) ----\n" + "\n".join(console.splitlines()[-40:]) + "\n")
        log("the VM did not report a pytest status")
        return 3
    log(f"kernel {_read(os.path.join(out, 'uname')).strip()}, wall time {time.monotonic() - t0:.1f} s")
    rc = int(rc_text)
    if not os.environ.get("BPFSCOPE_VM_KEEP"):
        shutil.rmtree(out, ignore_errors=True)
    return rc


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _sh_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
