"""BCC's packet headers (`#include <bcc/proto.h>`): structs laid over a socket buffer whose
"pointers" are offsets into the packet (`u8 *cursor = 0; cursor_advance(cursor, n)`).

BCC rewrites a member of such a struct into a packet access: a read is the field's bits in
network order (a load_byte/half/word of the packet: LD_IND, which ends the program returning 0
when the packet is too short), a write stores the bits back in network order with
bpf_skb_store_bytes; the context (the program's first argument) is the socket buffer.
A field's position is its bit offset in the packed struct, counted in the packet's byte order."""

from __future__ import annotations

from typing import Any

from ...kernel import insn as I
from ..ctype.types import Type
from ..diagnostics import CompileError
from ..ebpf.emitter import CTX, IntVal
from .lvalues import LV, Gen
from .typenames import int_type

# the headers' layouts (Ethernet, 802.1Q, ARP, IPv4/6, ICMP, UDP, TCP, VXLAN), bit-fields in wire order
CURSOR_ADVANCE = ("_cursor", "_len"), "({ void *_tmp = _cursor; _cursor += _len; _tmp; })"
PROTO_H = r"""
struct ethernet_t { unsigned long long dst:48; unsigned long long src:48; unsigned int type:16; } __packed;
struct dot1q_t { unsigned short pri:3; unsigned short cfi:1; unsigned short vlanid:12; unsigned short type; } __packed;
struct arp_t { unsigned short htype; unsigned short ptype; unsigned char hlen; unsigned char plen;
  unsigned short oper; unsigned long long sha:48; unsigned long long spa:32; unsigned long long tha:48;
  unsigned int tpa; } __packed;
struct ip_t { unsigned char ver:4; unsigned char hlen:4; unsigned char tos; unsigned short tlen;
  unsigned short identification; unsigned short ffo_unused:1; unsigned short df:1; unsigned short mf:1;
  unsigned short foffset:13; unsigned char ttl; unsigned char nextp; unsigned short hchecksum;
  unsigned int src; unsigned int dst; } __packed;
struct icmp_t { unsigned char type; unsigned char code; unsigned short checksum; } __packed;
struct ip6_t { unsigned int ver:4; unsigned int priority:8; unsigned int flow_label:20;
  unsigned short payload_len; unsigned char next_header; unsigned char hop_limit;
  unsigned long long src_hi; unsigned long long src_lo;
  unsigned long long dst_hi; unsigned long long dst_lo; } __packed;
struct ip6_opt_t { unsigned char next_header; unsigned char ext_len; unsigned char pad[6]; } __packed;
struct icmp6_t { unsigned char type; unsigned char code; unsigned short checksum; } __packed;
struct udp_t { unsigned short sport; unsigned short dport; unsigned short length; unsigned short crc; } __packed;
struct tcp_t { unsigned short src_port; unsigned short dst_port; unsigned int seq_num; unsigned int ack_num;
  unsigned char offset:4; unsigned char reserved:4; unsigned char flag_cwr:1; unsigned char flag_ece:1;
  unsigned char flag_urg:1; unsigned char flag_ack:1; unsigned char flag_psh:1; unsigned char flag_rst:1;
  unsigned char flag_syn:1; unsigned char flag_fin:1; unsigned short rcv_wnd; unsigned short cksum;
  unsigned short urg_ptr; } __packed;
struct vxlan_t { unsigned int rsv1:4; unsigned int iflag:1; unsigned int rsv2:3; unsigned int rsv3:24;
  unsigned int key:24; unsigned int rsv4:8; } __packed;
"""
PACKET_STRUCTS = frozenset(f"struct {n}" for n in (
    "ethernet_t", "dot1q_t", "arp_t", "ip_t", "icmp_t", "ip6_t", "ip6_opt_t", "icmp6_t", "udp_t", "tcp_t",
    "vxlan_t"))


def field_bits(lv: LV) -> tuple[int, int, int]:
    """(byte offset, bit offset in that byte, width in bits) of a packet field."""
    if lv.bits is not None:
        start = 8 * lv.off + lv.bits[0]
        return start // 8, start % 8, lv.bits[1]
    return lv.off, 0, 8 * lv.type.size


def _unit(bofs: int, bsz: int) -> int:
    if bsz > 64 or bofs + bsz > 64:
        raise CompileError("packet field wider than 64 bits", None)
    return next(n for n in (1, 2, 4, 8) if bofs + bsz <= 8 * n)


def _load_unit(g: Gen, ptr: IntVal, off: int, n: int) -> None:
    """r0 = the n packet bytes at ptr + off, in network order (LD_IND: r6 is the skb)."""
    e = g.e
    if n == 8:      # no 8-byte LD_IND: two words, the first the high half
        _load_unit(g, ptr, off + 4, 4)
        tmp = e.alloc(8)
        e.emit(I.stx(8, I.R10, I.R0, tmp))
        _load_unit(g, ptr, off, 4)
        e.emit(I.alu64_imm(I.LSH, I.R0, 32), I.ldx(8, I.R1, I.R10, tmp), I.alu64_reg(I.OR, I.R0, I.R1))
        return
    r = e.load(ptr, I.R1)
    e.emit(I.Insn(I.LD | I.IND | I.BYTES_SIZE[n], 0, r, 0, off))


def load(g: Gen, lv: LV) -> tuple[IntVal, Type]:
    assert lv.ptr is not None
    off, bofs, bsz = field_bits(lv)
    n = _unit(bofs, bsz)
    e = g.e
    _load_unit(g, lv.ptr, off, n)
    e.release(lv.ptr)
    sh = 8 * n - bofs - bsz
    if sh:
        e.emit(I.alu64_imm(I.RSH, I.R0, sh))
    if bsz < 64:
        if bsz < 32:
            e.emit(I.alu64_imm(I.AND, I.R0, (1 << bsz) - 1))
        else:
            e.emit(I.alu64_imm(I.LSH, I.R0, 64 - bsz), I.alu64_imm(I.RSH, I.R0, 64 - bsz))
    v = e.new_int()
    e.set_from(v, I.R0)
    return v, int_type(max(lv.type.size, (bsz + 7) // 8) if bsz <= 64 else 8, False)


def store(g: Gen, lv: LV, v: IntVal) -> None:
    """The field's bits replaced in the packet (read-modify-write of the bytes holding them)."""
    assert lv.ptr is not None
    off, bofs, bsz = field_bits(lv)
    n = _unit(bofs, bsz)
    e = g.e
    tmp = e.alloc(8)
    r = e.load(v, I.R2)
    e.emit(I.stx(8, I.R10, r, tmp))
    e.release(v)
    sh = 8 * n - bofs - bsz
    mask = ((1 << bsz) - 1) << sh
    if mask != (1 << (8 * n)) - 1:      # other bits share the bytes: keep them
        _load_unit(g, lv.ptr, off, n)
        e.emit(*I.ld_imm64(I.R1, ~mask & ((1 << 64) - 1)), I.alu64_reg(I.AND, I.R0, I.R1))
    else:
        e.emit(I.mov64_imm(I.R0, 0))
    e.emit(I.ldx(8, I.R1, I.R10, tmp), I.alu64_imm(I.LSH, I.R1, 64 - bsz), I.alu64_imm(I.RSH, I.R1, 64 - bsz))
    if sh:
        e.emit(I.alu64_imm(I.LSH, I.R1, sh))
    e.emit(I.alu64_reg(I.OR, I.R0, I.R1))
    if n > 1:
        e.emit(I.Insn(I.ALU | I.END | I.X, I.R0, 0, 0, 8 * n))      # to network order
    e.emit(I.stx(8, I.R10, I.R0, tmp))
    r = e.load(lv.ptr, I.R2)
    e.emit(I.mov64_reg(I.R2, r))
    e.release(lv.ptr)
    if off:
        e.emit(I.alu64_imm(I.ADD, I.R2, off))
    e.emit(I.mov64_reg(I.R1, CTX), I.mov64_reg(I.R3, I.R10), I.alu64_imm(I.ADD, I.R3, tmp),
           I.mov64_imm(I.R4, n), I.mov64_imm(I.R5, 0))
    e.call("skb_store_bytes")


def csum_call(g: Gen, x: Any) -> tuple[IntVal, Type]:
    """incr_cksum_l3/l4(&field, old, new[, pseudo]): bpf_l3/l4_csum_replace on the context,
    the field's packet offset, sized by the new value (BCC's helpers header)."""
    from . import ast as A

    l4 = x.func == "incr_cksum_l4"
    want = 4 if l4 else 3
    if len(x.args) != want:
        raise CompileError(f"{x.func}() takes {want} arguments", x.span)
    size = g.dry(lambda: g.rvalue(x.args[2])[1]).size
    flags: Any = A.Num(x.span, size)
    if l4:
        flags = A.Binary(x.span, "|", A.Binary(x.span, "<<", A.Binary(x.span, "&", x.args[3], A.Num(x.span, 1)),
                                               A.Num(x.span, 4)), flags)
    e = g.e
    vals = [g.rvalue(a)[0] for a in (x.args[0], x.args[1], x.args[2], flags)]
    for k, v in enumerate(vals):
        g.to_reg(v, I.R2 + k)
    for v in vals:
        e.release(v)
    e.emit(I.mov64_reg(I.R1, CTX))
    e.call("l4_csum_replace" if l4 else "l3_csum_replace")
    out = e.new_int()
    e.set_from(out, I.R0)
    return out, int_type(4, True)
