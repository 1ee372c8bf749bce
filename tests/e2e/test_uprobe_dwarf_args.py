"""A uprobe's `args` typed from the binary's DWARF (bpftrace 0.26: tests/runtime/builtin
"args in uprobe …" rows, tests/runtime/dwarf "list uprobe args …", "uprobe arg by name …").

tests/fixtures/dwarfargs.c is built with -g -O0; `prog N MS` calls each function N times,
then sleeps MS ms. Pointer values are not known in advance: each run also prints the same
pointer with %p, and the record's hex must equal it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import bpfscope, needs_root

FIX = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def prog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None or shutil.which("objcopy") is None:
        pytest.skip("gcc and objcopy are needed to build the workload")
    d = tmp_path_factory.mktemp("dwarfargs")
    exe = d / "prog"
    subprocess.run(["gcc", "-g", "-O0", "-o", str(exe), str(FIX / "dwarfargs.c")], check=True)
    subprocess.run(["objcopy", "--strip-debug", str(exe), str(d / "prog-stripped")], check=True)
    return exe


def run(prog: Path, script: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`script` with PROG replaced by the binary's path, run against `prog 1000 10`."""
    return bpfscope("-q", *extra, "-e", script.replace("PROG", str(prog)), "-c", f"{prog} 1000 10")


def lines(r: subprocess.CompletedProcess[str]) -> list[str]:
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return [ln for ln in r.stdout.splitlines() if ln]


def pointer_record(text: str, ptr: str) -> str:
    """The record text with its `.n` pointer replaced by P after checking it equals `ptr`."""
    m = re.search(r"\.n = (0x[0-9a-f]+)", text)
    assert m is not None, text
    assert m.group(1) == ptr
    return text.replace(ptr, "P")


# ---------------------------------------------------------------- the DWARF reader (no BPF)
def test_function_params_from_dwarf(prog: Path) -> None:
    from bpfscope.kernel import dwarf

    ps = dwarf.function_params(str(prog), "uprobeFunction1")
    assert ps is not None
    assert [(p.name, p.type.kind, p.type.size, p.type.name) for p in ps] == \
        [("n", "pointer", 8, "int*"), ("c", "int", 1, "char")]
    foo = dwarf.function_params(str(prog), "uprobeFunction2")
    assert foo is not None
    st = foo[0].type.target
    assert st is not None and st.members is not None
    assert [(m.name, m.type.name, m.offset) for m in st.members] == \
        [("a", "int", 0), ("b", "char[10]", 4), ("c", "int[3]", 16), ("next", "struct Foo*", 32)]
    assert dwarf.function_params(str(prog), "no_such_function") == []   # debug info, no entry
    assert dwarf.function_params(str(prog.parent / "prog-stripped"), "uprobeFunction1") is None


def test_dwarf_types_become_our_types(prog: Path) -> None:
    from bpfscope.kernel import dwarf
    from bpfscope.lang.ctype.dwarftypes import dwarf_type

    ps = dwarf.function_params(str(prog), "uprobeFunction2")
    assert ps is not None
    t = dwarf_type(ps[0].type)
    assert str(t) == "struct Foo *"
    assert t.pointee is not None
    assert [str(e) for e in t.pointee.elems] == ["int32", "string[10]", "int32[3]", "struct Foo *"]
    sig = dwarf.function_params(str(prog), "uprobeSigned")
    assert sig is not None
    assert [str(dwarf_type(p.type)) for p in sig] == ["int16", "uint8", "int64", "uint32"]


# ---------------------------------------------------------------- real uprobes
@needs_root
def test_print_args(prog: Path) -> None:
    out = lines(run(prog, 'uprobe:PROG:uprobeFunction1 { print(args); printf("%p\\n", args.n); exit(); }'))
    assert len(out) == 2
    assert pointer_record(out[0], out[1]) == "{ .n = P, .c = 120 }"


@needs_root
def test_args_fields_by_name(prog: Path) -> None:
    out = lines(run(prog, 'uprobe:PROG:uprobeFunction1 { printf("c = %c n = %d\\n", args.c, *(args.n)); '
                          'exit(); }'))
    assert out == ["c = x n = 13"]


@needs_root
def test_args_stored_in_map_and_field_read_back(prog: Path) -> None:
    out = lines(run(prog, 'uprobe:PROG:uprobeFunction1 { @ = args; print(@.c); printf("%p\\n", args.n); '
                          'exit(); }'))
    assert out[:2] == ["120", out[1]] and len(out) == 3
    assert pointer_record(out[2], out[1]) == "@: { .n = P, .c = 120 }"


@needs_root
def test_args_as_map_key_and_in_tuples(prog: Path) -> None:
    out = lines(run(prog, 'uprobe:PROG:uprobeFunction1 { @k[args] = 1; $a = (1, "hello", args); '
                          '@t[$a] = (args, "bye"); printf("%p\\n", args.n); exit(); }'))
    ptr = out[0]
    assert [ln.replace(ptr, "P") for ln in out[1:]] == [
        "@k[{ .n = P, .c = 120 }]: 1",
        "@t[1, hello, { .n = P, .c = 120 }]: ({ .n = P, .c = 120 }, bye)"]


@needs_root
def test_args_key_counts_every_call_once(prog: Path) -> None:
    """The key holds only the arguments (no other register bytes): 1000 calls, one key."""
    out = lines(run(prog, "uprobe:PROG:uprobeFunction1 { @[args.c, args] = count(); }"))
    assert len(out) == 1 and out[0].startswith("@[120, { .n = 0x") and out[0].endswith(" }]: 1000")


@needs_root
def test_args_json(prog: Path) -> None:
    import json

    out = lines(run(prog, "uprobe:PROG:uprobeFunction1 { print(args); exit(); }", "-f", "json"))
    rec = json.loads(out[0])
    assert rec["type"] == "value" and rec["data"]["c"] == 120 and rec["data"]["n"] > 0
    assert list(rec["data"]) == ["n", "c"]


@needs_root
def test_integer_widths_and_signedness(prog: Path) -> None:
    out = lines(run(prog, "uprobe:PROG:uprobeSigned { print(args); print(args.s); exit(); }"))
    assert out == ["{ .s = -5, .u = 200, .l = -70000, .x = 4000000000 }", "-5"]


@needs_root
def test_struct_pointer_parameters(prog: Path) -> None:
    out = lines(run(prog, "uprobe:PROG:uprobeFunction2 { print(args.foo1->a); print(args.foo1.b); "
                          "print(args.foo1->c); print(args.foo1->next->a); print(*args.foo2); exit(); }"))
    assert out == ["123", "hello", "[1,2,3]", "7", "{ .a = 7, .b = world, .c = [4,5,6], .next = 0x0 }"]


@needs_root
def test_main_argv(prog: Path) -> None:
    out = lines(run(prog, "uprobe:PROG:main { print(args.argc); print(str(args.argv[1])); exit(); }"))
    assert out == ["3", "1000"]


# ---------------------------------------------------------------- listing and errors
def test_list_verbose_shows_parameters(prog: Path) -> None:
    r = bpfscope("-lv", f"uprobe:{prog}:uprobe*")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"uprobe:{prog}:uprobeFunction1\n    int* n\n    char c\n"
                        f"uprobe:{prog}:uprobeFunction2\n    struct Foo* foo1\n    struct Foo* foo2\n"
                        f"uprobe:{prog}:uprobeSigned\n    short int s\n    unsigned char u\n    long int l\n"
                        f"    unsigned int x\n"
                        f"uprobe:{prog}:uprobeStack\n" + "".join(f"    int {c}\n" for c in "abcdefghi"))
    stripped = prog.parent / "prog-stripped"
    r = bpfscope("-lv", f"uprobe:{stripped}:uprobeFunction1")
    assert (r.returncode, r.stdout) == (0, f"uprobe:{stripped}:uprobeFunction1\n")


@needs_root
def test_no_debuginfo_error(prog: Path) -> None:
    stripped = prog.parent / "prog-stripped"
    ap = f"uprobe:{stripped}:uprobeFunction1"
    prog_text = f"{ap} {{ print(args); exit(); }}"
    r = bpfscope("-q", "-e", prog_text)
    assert r.returncode == 1
    assert r.stderr == (f'stdin:1:1-{len(ap) + 1}: ERROR: Could not parse arguments of "{ap}": no debuginfo '
                        f"found for {stripped}\n{prog_text}\n" + "~" * len(ap) + "\n")
    r = bpfscope("-q", "-e", f"{ap} {{ exit(); }}", "-c", f"{stripped} 1")   # no args: no DWARF needed
    assert (r.returncode, r.stderr) == (0, "")


@needs_root
def test_stack_passed_arguments_error(prog: Path) -> None:
    ap = f"uprobe:{prog}:uprobeStack"
    r = bpfscope("-q", "-e", f"{ap} {{ print(args); exit(); }}")
    assert r.returncode == 1
    assert r.stderr.startswith(f'stdin:1:1-{len(ap) + 1}: ERROR: Could not parse arguments of "{ap}": '
                               "'args' builtin is not supported for probes with stack-passed arguments.\n")


@needs_root
def test_args_read_inside_macros(prog: Path) -> None:
    """A macro (through another) reading `args` makes the probe's args resolve from DWARF too."""
    out = lines(run(prog, "macro inner() { args.c } macro outer() { print(inner()) } "
                          "uprobe:PROG:uprobeFunction1 { outer(); exit(); }"))
    assert out == ["120"]


@needs_root
def test_args_at_an_offset_is_a_clear_error(prog: Path) -> None:
    r = bpfscope("-q", "-e", f"uprobe:{prog}:uprobeFunction1+4 {{ print(args); exit(); }}")
    assert r.returncode == 1
    assert ("ERROR: The args builtin needs the function's parameters from DWARF: "
            f"uprobe:{prog}:uprobeFunction1+4 has none (an offset, no parameters, "
            "or no entry in the debug info)\n") in r.stderr
    assert "Traceback" not in r.stderr
