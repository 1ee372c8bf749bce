"""Usage text of each bpftool-style object (`bpfscope OBJ help|-h|--help`), bpftool 7.1's layout
restricted to the commands bpfscope implements."""

from __future__ import annotations

_OPTIONS = "       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-f|--bpffs} }"
_PROG = "       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }"
_MAP = "       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }"

USAGE: dict[str, str] = {
    "prog": "\n".join([
        "Usage: bpfscope prog { show | list } [PROG]",
        "       bpfscope prog dump xlated PROG [{ file FILE | opcodes | visual | linum }]",
        "       bpfscope prog dump jited  PROG [{ file FILE | opcodes | linum }]",
        "       bpfscope prog pin   PROG FILE",
        "       bpfscope prog { load | loadall } OBJ  PATH \\",
        "                         [type TYPE] [map { idx IDX | name NAME } MAP] \\",
        "                         [pinmaps MAP_DIR] [autoattach]",
        "       bpfscope prog run PROG \\",
        "                         data_in FILE \\",
        "                         [data_out FILE [data_size_out L]] \\",
        "                         [ctx_in FILE [ctx_out FILE [ctx_size_out M]]] \\",
        "                         [repeat N]",
        "       bpfscope prog help",
        "",
        _MAP, _PROG, _OPTIONS]),
    "map": "\n".join([
        "Usage: bpfscope map { show | list }   [MAP]",
        "       bpfscope map create     FILE type TYPE key KEY_SIZE value VALUE_SIZE \\",
        "                                  entries MAX_ENTRIES name NAME [flags FLAGS]",
        "       bpfscope map dump       MAP",
        "       bpfscope map update     MAP [key DATA] [value VALUE] [UPDATE_FLAGS]",
        "       bpfscope map lookup     MAP [key DATA]",
        "       bpfscope map getnext    MAP [key DATA]",
        "       bpfscope map delete     MAP  key DATA",
        "       bpfscope map pin        MAP  FILE",
        "       bpfscope map freeze     MAP",
        "       bpfscope map help",
        "",
        _MAP,
        "       DATA := { [hex] BYTES }",
        _PROG,
        "       VALUE := { DATA | MAP | PROG }",
        "       UPDATE_FLAGS := { any | exist | noexist }",
        _OPTIONS]),
    "btf": "\n".join([
        "Usage: bpfscope btf { show | list } [id BTF_ID]",
        "       bpfscope btf dump BTF_SRC [format FORMAT]",
        "       bpfscope btf help",
        "",
        "       BTF_SRC := { id BTF_ID | prog PROG | map MAP [{key | value | kv | all}] | file FILE }",
        "       FORMAT  := { raw | c }",
        _MAP, _PROG,
        "       OPTIONS := { {-j|--json} [{-p|--pretty}] }"]),
    "link": "\n".join([
        "Usage: bpfscope link { show | list }   [LINK]",
        "       bpfscope link pin        LINK  FILE",
        "       bpfscope link detach     LINK",
        "       bpfscope link help",
        "",
        "       LINK := { id LINK_ID | pinned FILE }",
        _OPTIONS]),
    "cgroup": "\n".join([
        "Usage: bpfscope cgroup { show | list } CGROUP [effective]",
        "       bpfscope cgroup tree [CGROUP_ROOT] [effective]",
        "       bpfscope cgroup attach CGROUP ATTACH_TYPE PROG [ATTACH_FLAGS]",
        "       bpfscope cgroup detach CGROUP ATTACH_TYPE PROG",
        "       bpfscope cgroup help",
        "",
        "       ATTACH_FLAGS := { multi | override }",
        _PROG, _OPTIONS]),
}

HELP_WORDS = ("help", "-h", "--help")


def usage(obj: str) -> str:
    """The usage of `obj`; `net` keeps its text next to its code."""
    if obj == "net":
        from .netcmd import USAGE as NET

        return NET
    return USAGE[obj]
