"""USDT (systemtap SDT) probes from an ELF's `.note.stapsdt` notes, with parsed arguments.

Each note (owner "stapsdt", type 3) holds pc, the link-time address of `.stapsdt.base`,
the semaphore address (0 if none) and "provider\\0name\\0args\\0". If the file's actual
`.stapsdt.base` address differs from the recorded one (prelink), pc and semaphore move by
the difference, as the systemtap SDT documentation prescribes.

Argument specs are x86-64 AT&T operands with a `[-]size@` prefix (negative = signed):
`-4@%edi`, `8@-16(%rbp)`, `-8@$5`, `8@(%rax,%rdx,8)`, `4@counter(%rip)`, `8@%fs:0x28`.
`UsdtArg` describes where the value lives in terms the code generator can turn into BPF
loads: byte offsets into `struct pt_regs` for registers, plus displacement/scale.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Literal

from .elf import ElfFile, open_elf

__all__ = [
    "UsdtArg",
    "UsdtProbe",
    "UsdtArgError",
    "PT_REGS_OFFSETS",
    "parse_arg",
    "parse_args",
    "list_usdt",
    "find_usdt",
]

NT_STAPSDT = 3

# struct pt_regs on x86-64 (arch/x86/include/asm/ptrace.h), byte offsets of each 8-byte slot.
PT_REGS_OFFSETS: dict[str, int] = {
    "r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40, "r11": 48, "r10": 56,
    "r9": 64, "r8": 72, "rax": 80, "rcx": 88, "rdx": 96, "rsi": 104, "rdi": 112,
    "orig_rax": 120, "rip": 128, "cs": 136, "eflags": 144, "rsp": 152, "ss": 160,
}  # fmt: skip
PT_REGS_SIZE = 168


def _register_aliases() -> dict[str, tuple[str, int, int]]:
    """AT&T register name -> (64-bit register, byte offset within its slot, width)."""
    out: dict[str, tuple[str, int, int]] = {}
    for x in "abcd":
        full = f"r{x}x"
        out[full] = (full, 0, 8)
        out[f"e{x}x"] = (full, 0, 4)
        out[f"{x}x"] = (full, 0, 2)
        out[f"{x}l"] = (full, 0, 1)
        out[f"{x}h"] = (full, 1, 1)
    for r in ("si", "di", "bp", "sp"):
        full = f"r{r}"
        out[full] = (full, 0, 8)
        out[f"e{r}"] = (full, 0, 4)
        out[r] = (full, 0, 2)
        out[f"{r}l"] = (full, 0, 1)
    for n in range(8, 16):
        full = f"r{n}"
        out[full] = (full, 0, 8)
        out[f"r{n}d"] = (full, 0, 4)
        out[f"r{n}w"] = (full, 0, 2)
        out[f"r{n}b"] = (full, 0, 1)
        out[f"r{n}l"] = (full, 0, 1)
    out["rip"] = ("rip", 0, 8)
    out["eip"] = ("rip", 0, 4)
    return out


_REGS = _register_aliases()
_SEGMENTS = frozenset(("fs", "gs", "cs", "ds", "es", "ss"))


class UsdtArgError(ValueError):
    """An argument spec this parser does not understand."""


@dataclass(frozen=True, slots=True)
class UsdtArg:
    """One USDT argument.

    kind "reg":   value = pt_regs[reg_offset] (read `reg_width` bytes, then cast to `size`).
    kind "mem":   value = *(size bytes)(segment_base + base + index*scale + displacement);
                  base/index are pt_regs slots (None when absent). For `sym(%rip)` the base
                  is None, `symbol` names the global and `symbol_vaddr` is its link-time
                  address: at a uprobe hit pt_regs->ip equals the probe address, so the
                  runtime address is ip + (symbol_vaddr + displacement - probe.pc).
    kind "const": value = `value`.
    """

    text: str
    size: int
    signed: bool
    kind: Literal["reg", "mem", "const"]
    reg: str | None = None
    reg_offset: int | None = None
    reg_width: int = 8
    base: str | None = None
    base_offset: int | None = None
    index: str | None = None
    index_offset: int | None = None
    scale: int = 1
    displacement: int = 0
    symbol: str | None = None
    symbol_vaddr: int | None = None
    segment: str | None = None
    value: int = 0
    is_float: bool = False

    @property
    def rip_relative(self) -> bool:
        return self.base == "rip"


@dataclass(frozen=True, slots=True)
class UsdtProbe:
    """A probe location. pc/semaphore are link-time addresses; *_offset are file offsets."""

    path: str
    provider: str
    name: str
    pc: int
    base: int
    semaphore: int
    arg_string: str
    pc_offset: int | None
    semaphore_offset: int | None
    args: tuple[UsdtArg, ...] = field(default=())

    @property
    def full_name(self) -> str:
        return f"{self.provider}:{self.name}"


_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)"
_ARG_RE = re.compile(r"^(?:(?P<size>[-+]?\d+)(?P<float>f)?@)?(?P<op>.+)$")
_MEM_RE = re.compile(
    r"^(?:%(?P<seg>[a-z]{2}):)?"
    r"(?P<disp>[^(]*)"
    r"\((?:%(?P<base>[a-z0-9]+))?(?:,%(?P<index>[a-z0-9]+)(?:,(?P<scale>\d+))?)?\)$"
)
_SYM_DISP_RE = re.compile(rf"^(?P<sym>[A-Za-z_.$][\w.$@]*)(?P<off>{_NUM})?$")


def _int(text: str) -> int:
    return int(text, 0) if not re.fullmatch(r"[-+]?0\d+", text) else int(text, 10)


def _reg(name: str, spec: str) -> tuple[str, int, int]:
    try:
        return _REGS[name]
    except KeyError:
        raise UsdtArgError(f"unsupported register %{name} in USDT argument {spec!r}") from None


def parse_arg(spec: str) -> UsdtArg:
    """Parse one x86-64 argument spec such as `-4@%edi` or `8@-16(%rbp)`."""
    m = _ARG_RE.match(spec.strip())
    if m is None:
        raise UsdtArgError(f"bad USDT argument {spec!r}")
    if m["size"] is not None:
        n = int(m["size"])
        size, signed = abs(n), n < 0
    else:
        size, signed = 8, False  # pre-v3 notes carry no size
    if size not in (1, 2, 4, 8, 16):
        raise UsdtArgError(f"bad size in USDT argument {spec!r}")
    is_float = m["float"] is not None
    op = m["op"]

    if op.startswith("$"):
        try:
            return UsdtArg(
                kind="const", value=_int(op[1:]), text=spec, size=size, signed=signed, is_float=is_float
            )
        except ValueError:
            raise UsdtArgError(f"bad constant in USDT argument {spec!r}") from None

    if op.startswith("%") and ":" not in op and "(" not in op:
        reg, sub, width = _reg(op[1:], spec)
        return UsdtArg(
            kind="reg",
            reg=reg,
            reg_offset=PT_REGS_OFFSETS[reg] + sub,
            reg_width=width,
            text=spec,
            size=size,
            signed=signed,
            is_float=is_float,
        )

    segment: str | None = None
    mm = _MEM_RE.match(op)
    if mm is None:
        # Absolute memory, possibly segment-relative: `%fs:0x28`, `%fs:-8`, or `symbol`.
        rest = op
        if op.startswith("%") and ":" in op:
            segment, rest = op[1:].split(":", 1)
            if segment not in _SEGMENTS:
                raise UsdtArgError(f"bad segment in USDT argument {spec!r}")
        disp, sym = _displacement(rest, spec)
        return UsdtArg(
            kind="mem",
            displacement=disp,
            symbol=sym,
            segment=segment,
            text=spec,
            size=size,
            signed=signed,
            is_float=is_float,
        )

    segment = mm["seg"]
    if segment is not None and segment not in _SEGMENTS:
        raise UsdtArgError(f"bad segment in USDT argument {spec!r}")
    disp, sym = _displacement(mm["disp"], spec)
    base = index = None
    base_off = index_off = None
    if mm["base"]:
        b, sub, width = _reg(mm["base"], spec)
        if sub or width < 4:
            raise UsdtArgError(f"bad base register in USDT argument {spec!r}")
        base, base_off = b, PT_REGS_OFFSETS[b]
    if mm["index"]:
        x, sub, width = _reg(mm["index"], spec)
        if sub or width < 4:
            raise UsdtArgError(f"bad index register in USDT argument {spec!r}")
        index, index_off = x, PT_REGS_OFFSETS[x]
    scale = int(mm["scale"]) if mm["scale"] else 1
    if scale not in (1, 2, 4, 8):
        raise UsdtArgError(f"bad scale in USDT argument {spec!r}")
    return UsdtArg(
        kind="mem",
        base=base,
        base_offset=base_off,
        index=index,
        index_offset=index_off,
        scale=scale,
        displacement=disp,
        symbol=sym,
        segment=segment,
        text=spec,
        size=size,
        signed=signed,
        is_float=is_float,
    )


def _displacement(text: str, spec: str) -> tuple[int, str | None]:
    text = text.strip()
    if not text:
        return 0, None
    try:
        return _int(text), None
    except ValueError:
        pass
    m = _SYM_DISP_RE.match(text)
    if m is None:
        raise UsdtArgError(f"bad displacement in USDT argument {spec!r}")
    return (_int(m["off"]) if m["off"] else 0), m["sym"]


def parse_args(arg_string: str) -> list[UsdtArg]:
    """Split a note's argument string on whitespace and parse each spec."""
    return [parse_arg(s) for s in arg_string.split()]


def _symbol_value(ef: ElfFile, name: str) -> int | None:
    for s in ef.symbols():
        if s.name == name and s.shndx != 0:
            return s.value
    return None


def list_usdt(path: str) -> list[UsdtProbe]:
    """All USDT probe locations in `path`, in note order (duplicates = several locations)."""
    ef = open_elf(path)
    probes: list[UsdtProbe] = []
    base_sec = ef.section(".stapsdt.base")
    e = "<" if ef.read(5, 1) == b"\x01" else ">"
    for owner, ntype, desc in ef.notes(".note.stapsdt"):
        if owner != "stapsdt" or ntype != NT_STAPSDT or len(desc) < 24:
            continue
        pc, base, sem = struct.unpack_from(e + "QQQ", desc, 0)
        strings = desc[24:].split(b"\0")
        if len(strings) < 2:
            continue
        provider = strings[0].decode("utf-8", "replace")
        name = strings[1].decode("utf-8", "replace")
        arg_string = strings[2].decode("utf-8", "replace") if len(strings) > 2 else ""
        if base_sec is not None and base and base_sec.addr != base:
            delta = base_sec.addr - base
            pc += delta
            if sem:
                sem += delta
        args: list[UsdtArg] = []
        for a in parse_args(arg_string):
            if a.symbol is not None:
                val = _symbol_value(ef, a.symbol)
                if val is not None:
                    a = _with_symbol(a, val)
            args.append(a)
        probes.append(
            UsdtProbe(
                path=path,
                provider=provider,
                name=name,
                pc=pc,
                base=base,
                semaphore=sem,
                arg_string=arg_string,
                pc_offset=ef.vaddr_to_offset(pc),
                semaphore_offset=ef.vaddr_to_offset(sem) if sem else None,
                args=tuple(args),
            )
        )
    return probes


def _with_symbol(a: UsdtArg, vaddr: int) -> UsdtArg:
    from dataclasses import replace

    return replace(a, symbol_vaddr=vaddr)


def find_usdt(path: str, provider: str, name: str) -> list[UsdtProbe]:
    """Probes matching provider/name; either may use bpftrace's '*' wildcard."""
    from .elf import wildcard_match

    return [
        p
        for p in list_usdt(path)
        if wildcard_match(provider or "*", p.provider) and wildcard_match(name, p.name)
    ]
