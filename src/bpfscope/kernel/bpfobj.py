"""Loader of clang-built BPF ELF objects (`clang -O2 -g -target bpf -c x.bpf.c`).

What libbpf does for `bpftool prog load`, for the parts such objects use:
sections -> programs (libbpf's SEC() names, see `bpfsec`); BTF-defined `.maps` and legacy
`maps`; `.data`/`.rodata`/`.bss` as one-element array maps (initial contents written, rodata
frozen, so the verifier prunes on its constants); `ld_imm64` relocations to maps and globals;
bpf-to-bpf calls and callbacks linked by appending the subprograms each program uses;
`.BTF` (DATASEC fixed up) loaded and passed with func_info/line_info from `.BTF.ext`;
CO-RE relocations resolved against /sys/kernel/btf/vmlinux (`corereloc`).

Use: `obj = BpfObject.open(path); obj.load(); link_fd = obj.attach(obj.programs[0]);
obj.close()`. Failures raise `ObjError` with a one-line reason (and the verifier log).
"""

from __future__ import annotations

import bisect
import errno
import os
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import bpfsec, btfext, uapi
from . import syscall as sc
from .elf import ElfError, ElfFile

if TYPE_CHECKING:
    from .btf import Btf

EM_BPF = 247
SHT_PROGBITS, SHT_SYMTAB, SHT_REL, SHT_NOBITS = 1, 2, 9, 8
SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
STT_OBJECT, STT_FUNC, STT_SECTION = 1, 2, 3
STB_LOCAL = 0

PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_CALL, PSEUDO_FUNC = 1, 2, 1, 4
BPF_F_SLEEPABLE = 1 << 4
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10
PIN_BY_NAME = 1
DEFAULT_PIN_ROOT = "/sys/fs/bpf"
_LOG_SIZE = 1 << 22


class ObjError(Exception):
    """The object cannot be opened, loaded or attached; `log` holds a verifier log if any."""

    def __init__(self, msg: str, log: str = "") -> None:
        super().__init__(msg)
        self.log = log


@dataclass
class Symbol:
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int


@dataclass
class BpfMap:
    """A map of the object; `fd` is set once created (or reused)."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    numa_node: int = 0
    map_extra: int = 0
    pinning: int = 0
    section: str = ""      # ".maps", "maps", ".data", ...
    shndx: int = 0
    offset: int = 0        # symbol value inside `maps`/`.maps` (0 for data maps)
    initial: bytes | None = None
    fd: int = -1
    reused: bool = False
    pin_path: str = ""

    @property
    def is_global_data(self) -> bool:
        return self.section.startswith((".data", ".rodata", ".bss"))

    @property
    def pin_name(self) -> str:
        """libbpf's file name under `pinmaps DIR`: dots become underscores."""
        return self.name.replace(".", "_")


@dataclass
class BpfProgram:
    """One program: function `name` in section `sec_name`."""

    name: str
    sec_name: str
    shndx: int
    start: int          # first instruction inside its section
    count: int          # instructions
    prog_type: int
    expected_attach_type: int = 0
    secdef: bpfsec.SecDef | None = None
    attach_btf_id: int = 0
    fd: int = -1
    insns: bytes = b""
    log: str = ""


@dataclass
class _Func:
    start: int
    count: int
    name: str


@dataclass
class _Block:
    shndx: int
    start: int
    count: int
    pos: int


@dataclass
class _Reloc:
    offset: int
    sym: int
    type: int


def object_name(path: str) -> str:
    """libbpf's object name: the file name up to its first dot (`count` of count.bpf.o)."""
    return os.path.basename(path).split(".", 1)[0] or "obj"


def _clean_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)[:15]


def data_map_name(obj_name: str, sec: str) -> str:
    """Name of the array map behind a global-data section (`count.bss`), as libbpf forms it."""
    pfx = max(0, min(15 - len(sec), len(obj_name)))
    return re.sub(r"[^A-Za-z0-9_.]", "_", obj_name[:pfx] + sec)[:15]


class BpfObject:
    """An opened object file: its maps and programs, before and after loading."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = object_name(path)
        self.maps: list[BpfMap] = []
        self.programs: list[BpfProgram] = []
        self.license = ""
        self.kern_version = 0
        self.btf_raw = b""
        self.btf_fd = -1
        self.btf: Btf | None = None  # the object's own BTF, when it has .BTF
        self.ext: btfext.BtfExt | None = None
        self._elf: ElfFile | None = None
        self._syms: list[Symbol] = []
        self._relocs: dict[int, dict[int, _Reloc]] = {}
        self._code: dict[int, bytearray] = {}
        self._funcs: dict[int, list[_Func]] = {}
        self._map_by_sym: dict[tuple[int, int], BpfMap] = {}
        self._map_by_sec: dict[int, BpfMap] = {}
        self._sec_names: list[str] = []
        self._loaded = False

    # ------------------------------------------------------------------ open
    @classmethod
    def open(cls, path: str) -> BpfObject:
        """Parse `path`; nothing touches the kernel yet."""
        obj = cls(path)
        try:
            ef = ElfFile(path)
        except ElfError as e:
            raise ObjError(str(e)) from None
        if ef.machine != EM_BPF:
            raise ObjError(f"{path}: not a BPF object (ELF machine {ef.machine}, expected {EM_BPF})")
        obj._elf = ef
        obj._parse()
        return obj

    def _parse(self) -> None:
        ef = self._elf
        assert ef is not None
        self._sec_names = [s.name for s in ef.sections]
        symtab = next((i for i, s in enumerate(ef.sections) if s.type == SHT_SYMTAB), None)
        if symtab is None:
            raise ObjError(f"{self.path}: no symbol table")
        self._read_symbols(symtab)
        for i, s in enumerate(ef.sections):
            if s.type == SHT_REL and s.info < len(ef.sections):
                self._relocs[s.info] = self._read_relocs(i)
            elif s.name == "license":
                self.license = ef.section_data(s).split(b"\0", 1)[0].decode(errors="replace")
            elif s.name == "version" and s.size >= 4:
                self.kern_version = struct.unpack_from("<I", ef.section_data(s))[0]
            elif s.type == SHT_PROGBITS and s.flags & SHF_EXECINSTR and s.size:
                self._code[i] = bytearray(ef.section_data(s))
        self._load_btf_sections()
        self._collect_funcs()
        self._collect_maps()
        self._collect_programs()

    def _read_symbols(self, idx: int) -> None:
        ef = self._elf
        assert ef is not None
        sec = ef.sections[idx]
        strtab = ef.section_data(ef.sections[sec.link])
        data = ef.section_data(sec)
        for name_off, info, _other, shndx, value, size in struct.iter_unpack("<IBBHQQ", data[: len(data) // 24 * 24]):
            end = strtab.find(b"\0", name_off)
            name = strtab[name_off:end].decode(errors="replace") if name_off else ""
            self._syms.append(Symbol(name, value, size, info & 0xF, info >> 4, shndx))

    def _read_relocs(self, idx: int) -> dict[int, _Reloc]:
        ef = self._elf
        assert ef is not None
        data = ef.section_data(ef.sections[idx])
        out: dict[int, _Reloc] = {}
        for off, info in struct.iter_unpack("<QQ", data[: len(data) // 16 * 16]):
            out[off] = _Reloc(off, info >> 32, info & 0xFFFFFFFF)
        return out

    def _load_btf_sections(self) -> None:
        ef = self._elf
        assert ef is not None
        sec = ef.section(".BTF")
        if sec is None:
            return
        sizes = {s.name: s.size for s in ef.sections if s.name}
        values = {(self._sec_names[s.shndx], s.name): s.value for s in self._syms
                  if s.type == STT_OBJECT and 0 < s.shndx < len(self._sec_names)}
        try:
            self.btf_raw = btfext.fixup_datasecs(ef.section_data(sec), sizes, values)
            from .btf import Btf

            self.btf = Btf.from_bytes(self.btf_raw)
            ext = ef.section(".BTF.ext")
            if ext is not None:
                self.ext = btfext.parse_btf_ext(ef.section_data(ext), self.btf_raw)
        except (btfext.BtfExtError, ValueError, struct.error) as e:
            raise ObjError(f"{self.path}: bad BTF: {e}") from None

    def _collect_funcs(self) -> None:
        for s in self._syms:
            if s.type == STT_FUNC and s.shndx in self._code:
                self._funcs.setdefault(s.shndx, []).append(_Func(s.value // 8, s.size // 8, s.name))
        for shndx, code in self._code.items():
            funcs = sorted(self._funcs.get(shndx, []), key=lambda f: f.start)
            if not funcs:  # a section without symbols: one anonymous program
                funcs = [_Func(0, len(code) // 8, self._sec_names[shndx].replace("/", "_"))]
            for f in funcs:
                if not f.count:
                    f.count = len(code) // 8 - f.start
            self._funcs[shndx] = funcs

    # ------------------------------------------------------------------ maps
    def _collect_maps(self) -> None:
        ef = self._elf
        assert ef is not None
        for i, s in enumerate(ef.sections):
            if s.name == "maps":
                self._legacy_maps(i)
        for i, s in enumerate(ef.sections):
            if s.name == ".maps":
                self._btf_maps(i)
        for i, s in enumerate(ef.sections):
            if (s.flags & SHF_ALLOC and s.type in (SHT_PROGBITS, SHT_NOBITS) and s.size
                    and not s.flags & SHF_EXECINSTR
                    and (s.name in (".data", ".rodata", ".bss")
                         or s.name.startswith((".data.", ".rodata.", ".bss.")))):
                self._data_map(i)

    def _add_map(self, m: BpfMap) -> None:
        self.maps.append(m)
        if m.is_global_data:
            self._map_by_sec[m.shndx] = m
        else:
            self._map_by_sym[(m.shndx, m.offset)] = m

    def _legacy_maps(self, shndx: int) -> None:
        ef = self._elf
        assert ef is not None
        data = ef.section_data(ef.sections[shndx])
        syms = sorted((s for s in self._syms if s.shndx == shndx and s.name and s.type != STT_SECTION),
                      key=lambda s: s.value)
        if not syms:
            return
        size = len(data) // len(syms)
        if size < 16:
            raise ObjError(f"legacy 'maps' section: map definitions of {size} bytes are too small")
        for s in syms:
            f = list(struct.unpack_from("<IIIII", data[s.value:s.value + size].ljust(20, b"\0")))
            self._add_map(BpfMap(_clean_name(s.name), f[0], f[1], f[2], f[3], f[4], section="maps",
                                 shndx=shndx, offset=s.value))

    def _btf_maps(self, shndx: int) -> None:
        btf = self.btf
        if btf is None:
            raise ObjError(f"{self.path}: '.maps' section needs BTF (compile with -g)")
        sec_id = btf.find(".maps", "datasec")
        if sec_id is None:
            raise ObjError(f"{self.path}: no DATASEC '.maps' in BTF")
        for var_id, off, _size in btf.get(sec_id).secinfo:
            var = btf.get(var_id)
            self._add_map(self._parse_map_def(var.name, var.type, shndx, off))

    def _parse_map_def(self, name: str, type_id: int, shndx: int, off: int) -> BpfMap:
        btf = self.btf
        assert btf is not None
        st = btf.get(btf.resolve(type_id))
        if st.kind != "struct":
            raise ObjError(f"map '{name}': definition is not a struct")
        m = BpfMap(_clean_name(name), 0, 0, 0, 0, section=".maps", shndx=shndx, offset=off)

        def nelems(tid: int) -> int:
            p = btf.get(btf.resolve(tid))
            if p.kind != "ptr":
                raise ObjError(f"map '{name}': attribute is not a pointer to an array")
            arr = btf.get(btf.resolve(p.type))
            if arr.kind != "array":
                raise ObjError(f"map '{name}': attribute is not a pointer to an array")
            return arr.nelems

        for mem in st.members:
            if mem.name in ("type", "max_entries", "map_flags", "numa_node", "key_size", "value_size",
                            "pinning", "map_extra"):
                val = nelems(mem.type)
                attr = {"type": "type", "max_entries": "max_entries", "map_flags": "flags",
                        "numa_node": "numa_node", "key_size": "key_size", "value_size": "value_size",
                        "pinning": "pinning", "map_extra": "map_extra"}[mem.name]
                setattr(m, attr, val)
            elif mem.name in ("key", "value"):
                p = btf.get(btf.resolve(mem.type))
                if p.kind != "ptr":
                    raise ObjError(f"map '{name}': '{mem.name}' is not a pointer")
                size = btf.sizeof(p.type)
                if mem.name == "key":
                    m.key_size, m.btf_key_type_id = size, p.type
                else:
                    m.value_size, m.btf_value_type_id = size, p.type
            elif mem.name == "values":
                raise ObjError(f"map '{name}': map-in-map definitions are not supported")
            else:
                raise ObjError(f"map '{name}': unknown attribute '{mem.name}'")
        if m.pinning not in (0, PIN_BY_NAME):
            raise ObjError(f"map '{name}': invalid pinning value {m.pinning}")
        if m.pinning == PIN_BY_NAME:
            m.pin_path = os.path.join(DEFAULT_PIN_ROOT, m.name)
        return m

    def _data_map(self, shndx: int) -> None:
        ef = self._elf
        assert ef is not None
        s = ef.sections[shndx]
        flags = BPF_F_MMAPABLE
        if s.name.startswith(".rodata"):
            flags |= BPF_F_RDONLY_PROG
        vid = self.btf.find(s.name, "datasec") if self.btf is not None else None
        init = None if s.type == SHT_NOBITS else ef.section_data(s)
        self._add_map(BpfMap(data_map_name(self.name, s.name), uapi.BPF_MAP_TYPE_ARRAY, 4, s.size, 1,
                             flags, 0, vid or 0, section=s.name, shndx=shndx, initial=init))

    def find_map(self, which: int | str) -> BpfMap:
        """A map by index (definition order) or name."""
        if isinstance(which, int):
            if not 0 <= which < len(self.maps):
                raise ObjError(f"map idx '{which}' not used")
            return self.maps[which]
        for m in self.maps:
            if m.name == which:
                return m
        raise ObjError(f"unable to find map '{which}'")

    def reuse_map(self, which: int | str, fd: int) -> None:
        """Use an existing map (fd is duplicated) instead of creating this one."""
        m = self.find_map(which)
        if m.reused:
            raise ObjError(f"replacement for map idx {self.maps.index(m)} specified more than once")
        m.fd = os.dup(fd)
        m.reused = True

    # ------------------------------------------------------------------ programs
    def _collect_programs(self) -> None:
        text = self._sec_names.index(".text") if ".text" in self._sec_names else -1
        for shndx in sorted(self._code):
            if shndx == text:
                continue
            sec = self._sec_names[shndx]
            d = bpfsec.find(sec)
            globals_ = {s.name for s in self._syms if s.shndx == shndx and s.type == STT_FUNC
                        and s.bind != STB_LOCAL}
            for f in self._funcs[shndx]:
                if globals_ and f.name not in globals_:
                    continue
                self.programs.append(BpfProgram(
                    f.name, sec, shndx, f.start, f.count,
                    d.prog_type if d else uapi.BPF_PROG_TYPE_UNSPEC,
                    d.attach_type if d else 0, d))

    def set_type(self, prog: BpfProgram, d: bpfsec.SecDef) -> None:
        """Override the type guessed from the section name (bpftool's `type T`)."""
        prog.prog_type, prog.expected_attach_type = d.prog_type, d.attach_type
        if prog.secdef is None or prog.secdef.prog_type != d.prog_type:
            prog.secdef = d

    # ------------------------------------------------------------------ load
    def load(self) -> None:
        """Create maps, load BTF and every program; on failure everything is released."""
        if self._loaded:
            raise ObjError("object already loaded")
        sc.raise_memlock()
        try:
            for p in self.programs:
                if p.prog_type == uapi.BPF_PROG_TYPE_UNSPEC:
                    raise ObjError(f"failed to guess program type from ELF section '{p.sec_name}'")
            self._load_btf()
            for m in self.maps:
                self._create_map(m)
            self._apply_core()
            for p in self.programs:
                self._load_program(p)
        except BaseException:
            self.close()
            raise
        self._loaded = True

    def _load_btf(self) -> None:
        if not self.btf_raw:
            return
        try:
            self.btf_fd = sc.btf_load(self.btf_raw)
        except OSError:
            self.btf_fd = -1  # as libbpf: go on without BTF (no func/line info, no typed maps)

    def _create_map(self, m: BpfMap) -> None:
        if m.fd >= 0:
            return
        if m.pin_path and os.path.exists(m.pin_path):
            try:
                m.fd = sc.obj_get(m.pin_path)
                m.reused = True
                return
            except OSError as e:
                raise ObjError(f"map '{m.name}': can't reuse pinned {m.pin_path}: {e.strerror}") from None
        use_btf = self.btf_fd >= 0 and (m.btf_value_type_id or m.btf_key_type_id)
        try:
            m.fd = sc.map_create(m.type, m.key_size, m.value_size, m.max_entries, m.flags, m.name,
                                 btf_fd=self.btf_fd if use_btf else 0,
                                 btf_key_type_id=m.btf_key_type_id if use_btf else 0,
                                 btf_value_type_id=m.btf_value_type_id if use_btf else 0,
                                 map_extra=m.map_extra)
        except OSError as e:
            raise ObjError(f"map '{m.name}': failed to create: {os.strerror(e.errno or 0)}") from None
        try:
            if m.initial and any(m.initial):
                sc.map_update(m.fd, b"\0\0\0\0", m.initial)
            if m.flags & BPF_F_RDONLY_PROG:
                sc.map_freeze(m.fd)
            if m.pin_path:
                sc.obj_pin(m.fd, m.pin_path)
        except OSError as e:
            raise ObjError(f"map '{m.name}': failed to initialize: {os.strerror(e.errno or 0)}") from None

    def _apply_core(self) -> None:
        if self.ext is None or not self.ext.core_relo.by_sec or self.btf is None:
            return
        from . import corereloc
        from .btf import Btf, BtfError

        try:
            target = Btf.vmlinux()
        except (OSError, BtfError) as e:
            raise ObjError(f"CO-RE relocations need kernel BTF: {e}") from None
        for sec_name, recs in self.ext.core_relo.by_sec.items():
            if sec_name not in self._sec_names:
                continue
            shndx = self._sec_names.index(sec_name)
            code = self._code.get(shndx)
            if code is None:
                continue
            for insn_off, type_id, access_off, kind in recs:
                access = btfext.btf_string(self.btf_raw, access_off)
                try:
                    corereloc.apply(code, insn_off // 8, self.btf, target, type_id, access, kind)
                except (corereloc.CoreError, BtfError) as e:
                    raise ObjError(f"sec '{sec_name}': CO-RE relocation #{insn_off // 8} "
                                   f"({corereloc.KIND_NAMES[kind] if kind < 13 else kind} "
                                   f"{self.btf.name_of(type_id)} {access}): {e}") from None

    def _func_at(self, shndx: int, idx: int) -> _Func:
        funcs = self._funcs.get(shndx)
        if not funcs:
            raise ObjError(f"call into section '{self._sec_names[shndx]}' that holds no code")
        i = bisect.bisect_right([f.start for f in funcs], idx) - 1
        if i < 0 or idx >= funcs[i].start + funcs[i].count:
            raise ObjError(f"call target #{idx} in '{self._sec_names[shndx]}' is not inside a function")
        return funcs[i]

    def _link(self, prog: BpfProgram) -> tuple[bytearray, list[_Block]]:
        """The program's instructions with every called subprogram appended, calls fixed up."""
        out = bytearray()
        blocks: list[_Block] = []
        placed: dict[tuple[int, int], int] = {}

        def place(shndx: int, f: _Func) -> int:
            key = (shndx, f.start)
            if key not in placed:
                placed[key] = len(out) // 8
                blocks.append(_Block(shndx, f.start, f.count, len(out) // 8))
                out.extend(self._code[shndx][f.start * 8:(f.start + f.count) * 8])
            return placed[key]

        place(prog.shndx, _Func(prog.start, prog.count, prog.name))
        i = 0
        while i < len(blocks):
            b = blocks[i]
            i += 1
            relocs = self._relocs.get(b.shndx, {})
            for j in range(b.count):
                at = (b.pos + j) * 8
                code, regs = out[at], out[at + 1]
                src = regs >> 4
                rel = relocs.get((b.start + j) * 8)
                imm = struct.unpack_from("<i", out, at + 4)[0]
                if code == 0x85 and src == PSEUDO_CALL:
                    if rel is not None:
                        sym = self._syms[rel.sym]
                        tsec, tidx = sym.shndx, sym.value // 8 + imm + 1
                    else:
                        tsec, tidx = b.shndx, b.start + j + imm + 1
                elif code == 0x18 and rel is not None and self._syms[rel.sym].shndx in self._code:
                    sym = self._syms[rel.sym]
                    tsec, tidx = sym.shndx, (sym.value + imm) // 8
                    out[at + 1] = (regs & 0x0F) | (PSEUDO_FUNC << 4)
                else:
                    continue
                f = self._func_at(tsec, tidx)
                tpos = place(tsec, f) + (tidx - f.start)
                struct.pack_into("<i", out, at + 4, tpos - (b.pos + j + 1))
        return out, blocks

    def _relocate_data(self, prog: BpfProgram, out: bytearray, blocks: list[_Block]) -> None:
        for b in blocks:
            for off, rel in self._relocs.get(b.shndx, {}).items():
                j = off // 8 - b.start
                if not 0 <= j < b.count:
                    continue
                at = (b.pos + j) * 8
                if out[at] != 0x18:
                    continue
                sym = self._syms[rel.sym]
                if sym.shndx in self._code:
                    continue  # callback address, done while linking
                if sym.shndx == 0:
                    raise ObjError(f"prog '{prog.name}': extern '{sym.name}' is not supported")
                imm = struct.unpack_from("<i", out, at + 4)[0]
                m = self._map_by_sec.get(sym.shndx)
                if m is not None:
                    out[at + 1] = (out[at + 1] & 0x0F) | (PSEUDO_MAP_VALUE << 4)
                    struct.pack_into("<i", out, at + 4, m.fd)
                    struct.pack_into("<i", out, at + 12, sym.value + imm)
                    continue
                m = self._map_by_sym.get((sym.shndx, sym.value))
                if m is None:
                    raise ObjError(f"prog '{prog.name}': relocation against '{sym.name or '?'}' in "
                                   f"section '{self._sec_names[sym.shndx]}' which is not a map")
                out[at + 1] = (out[at + 1] & 0x0F) | (PSEUDO_MAP_FD << 4)
                struct.pack_into("<i", out, at + 4, m.fd)
                struct.pack_into("<i", out, at + 12, 0)

    def _ext_records(self, blocks: list[_Block], info: btfext.ExtInfo, fmt: str) -> bytes:
        out = bytearray()
        for b in blocks:
            for rec in info.by_sec.get(self._sec_names[b.shndx], []):
                idx = rec[0] // 8
                if b.start <= idx < b.start + b.count:
                    out += struct.pack(fmt, b.pos + idx - b.start, *rec[1:])
        return bytes(out)

    def _attach_btf_id(self, prog: BpfProgram) -> int:
        d = prog.secdef
        if d is None or d.attach != "trace":
            return 0
        tgt = bpfsec.target(prog.sec_name, d)
        if not tgt:
            raise ObjError(f"prog '{prog.name}': section '{prog.sec_name}' names no attach target")
        from .btf import Btf, BtfError

        try:
            vm = Btf.vmlinux()
        except (OSError, BtfError) as e:
            raise ObjError(f"prog '{prog.name}': needs kernel BTF: {e}") from None
        if prog.expected_attach_type == uapi.BPF_TRACE_RAW_TP:
            tid = vm.find("btf_trace_" + tgt, "typedef")
        elif prog.expected_attach_type in (uapi.BPF_LSM_MAC, uapi.BPF_LSM_CGROUP):
            tid = vm.find("bpf_lsm_" + tgt, "func")
        else:
            tid = vm.find(tgt, "func")
        if tid is None:
            raise ObjError(f"prog '{prog.name}': no kernel BTF for attach target '{tgt}'")
        return tid

    def _load_program(self, prog: BpfProgram) -> None:
        out, blocks = self._link(prog)
        self._relocate_data(prog, out, blocks)
        prog.insns = bytes(out)
        fi = li = b""
        if self.btf_fd >= 0 and self.ext is not None:
            fi = self._ext_records(blocks, self.ext.func_info, "<II")
            li = self._ext_records(blocks, self.ext.line_info, "<IIII")
        prog.attach_btf_id = self._attach_btf_id(prog)
        flags = BPF_F_SLEEPABLE if prog.secdef is not None and prog.secdef.sleepable else 0
        kw = dict(license=self.license or "", name=_clean_name(prog.name),
                  expected_attach_type=prog.expected_attach_type, attach_btf_id=prog.attach_btf_id,
                  kern_version=self.kern_version, prog_flags=flags,
                  prog_btf_fd=self.btf_fd if fi or li else 0,
                  func_info=fi, func_info_rec_size=8 if fi else 0,
                  line_info=li, line_info_rec_size=16 if li else 0)
        try:
            prog.fd, _ = sc.prog_load(prog.prog_type, prog.insns, **kw)  # type: ignore[arg-type]
            return
        except OSError as e:
            first = e
        try:  # again with a verifier log, to say why
            prog.fd, _ = sc.prog_load(prog.prog_type, prog.insns, log_level=1, log_size=_LOG_SIZE,
                                      **kw)  # type: ignore[arg-type]
            return
        except sc.BpfError as e:
            log = e.log
        except OSError:
            log = ""
        raise ObjError(f"prog '{prog.name}': failed to load: {os.strerror(first.errno or errno.EINVAL)}",
                       log) from None

    # ------------------------------------------------------------------ attach
    def attach(self, prog: BpfProgram) -> int | None:
        """Attach as the section name says; returns a bpf_link fd, or None when the section
        names no attach point (xdp, tc, socket, ...: those need a target given elsewhere)."""
        from . import progattach

        if prog.fd < 0:
            raise ObjError(f"prog '{prog.name}' is not loaded")
        d = prog.secdef
        if d is None or not d.attach:
            return None
        return progattach.attach(prog.fd, d, bpfsec.target(prog.sec_name, d), prog.name)

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Release every fd this object holds (pinned objects stay in bpffs)."""
        for p in self.programs:
            if p.fd >= 0:
                os.close(p.fd)
                p.fd = -1
        for m in self.maps:
            if m.fd >= 0:
                os.close(m.fd)
                m.fd = -1
        if self.btf_fd >= 0:
            os.close(self.btf_fd)
            self.btf_fd = -1

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_object(path: str) -> BpfObject:
    return BpfObject.open(path)


__all__ = ["BpfMap", "BpfObject", "BpfProgram", "ObjError", "data_map_name", "object_name", "open_object"]
