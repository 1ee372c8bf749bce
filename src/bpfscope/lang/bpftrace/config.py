"""bpftrace config variables: the `config = { ... }` block and their BPFTRACE_* environment forms.

Names may be written `max_map_keys`, `MAX_MAP_KEYS` or `BPFTRACE_MAX_MAP_KEYS`; the
environment wins over the block (bpftrace's rule). Values are checked here, with a located
error for the block and a plain one for the environment; the result is a dict of
canonical lower-case names to typed values that the compiler and runtime read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..diagnostics import CompileError
from . import ast as A
from .defaults import DEFAULT_MAX_STRLEN

_UNSTABLE = ("error", "warn", "enable")
# name -> kind: "int" | "bool" | "str" | tuple of allowed words
CONFIG_VARS: dict[str, Any] = {
    "cache_user_symbols": ("PER_PROGRAM", "PER_PID", "NONE"),
    "cpp_demangle": "bool",
    "lazy_symbolication": "bool",
    "license": "str",
    "log_size": "int",
    "max_bpf_progs": "int",
    "max_cat_bytes": "int",
    "max_map_keys": "int",
    "max_probes": "int",
    "max_strlen": "int",
    "missing_probes": ("error", "warn", "ignore"),
    "on_stack_limit": "int",
    "perf_rb_pages": "int",
    "print_maps_on_exit": "bool",
    "show_debug_info": "bool",
    "stack_mode": ("bpftrace", "perf", "raw", "build_id"),
    "str_trunc_trailer": "str",
    "symbol_source": ("dwarf", "symbol_table"),
    "unstable_map_decl": _UNSTABLE,
    "unstable_tseries": _UNSTABLE,
    "unstable_addr": _UNSTABLE,
    "unstable_macro": _UNSTABLE,
    "unstable_import": _UNSTABLE,
    "unstable_typeinfo": _UNSTABLE,
}
# environment spellings older bpftrace releases used
LEGACY_ENV = {"BPFTRACE_STRLEN": "max_strlen", "BPFTRACE_MAP_KEYS_MAX": "max_map_keys",
              "BPFTRACE_CAT_BYTES_MAX": "max_cat_bytes", "BPFTRACE_NO_CPP_DEMANGLE": "cpp_demangle"}
# read elsewhere (bpftrace 0.26's list): named in a config block they get their own error
ENV_ONLY = frozenset(("btf", "debug_output", "kernel_build", "kernel_source", "max_ast_nodes", "verify_llvm_ir",
                      "vmlinux"))


def canonical(name: str) -> str:
    key = name.lower()
    return key[len("bpftrace_"):] if key.startswith("bpftrace_") else key


def convert(name: str, value: Any, where: str = "") -> Any:
    """A config value as the type its variable takes; ValueError with bpftrace's wording if not."""
    kind = CONFIG_VARS[name]
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"Invalid type for {name}. Type: bool. Expected Type: int")
        if isinstance(value, str):
            try:
                value = int(value.replace("_", ""), 0)
            except ValueError:
                raise ValueError(f"Invalid value for {name}: {value!r} is not an integer") from None
        if value < 0:
            raise ValueError(f"Invalid value for {name}: {value} (must not be negative)")
        if name == "max_strlen" and value < 1:
            raise ValueError("max_strlen must be at least 1")
        return int(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            if value in (0, 1):
                return bool(value)
        elif isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise ValueError(f"Invalid value for {name}: valid values are true, false, 1 and 0")
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"Invalid type for {name}. Type: int. Expected Type: string")
        return value
    text = str(value)
    for word in kind:
        if text.lower() == word.lower():
            return word
    raise ValueError(f"Invalid value for {name}: {text}. Valid values: " + ", ".join(kind))


def check_config(program: A.Program, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The script's config block checked and merged with BPFTRACE_* environment overrides."""
    out: dict[str, Any] = {}
    for raw, value in program.config.items():
        span = program.config_spans.get(raw)
        name = canonical(raw)
        if name in ENV_ONLY:
            raise CompileError(f"{raw}: can only be set as an environment variable", span)
        if name not in CONFIG_VARS:
            raise CompileError(f"{raw}: not a known configuration option", span)
        try:
            out[name] = convert(name, value)
        except ValueError as e:
            raise CompileError(str(e), span) from None
    for var, text in (env or {}).items():
        if not var.startswith("BPFTRACE_"):
            continue
        name = LEGACY_ENV.get(var) or canonical(var)
        if name not in CONFIG_VARS:
            continue
        if var == "BPFTRACE_NO_CPP_DEMANGLE":
            out[name] = text.strip() not in ("1", "true")
            continue
        try:
            out[name] = convert(name, text)
        except ValueError as e:
            raise CompileError(f"Env var '{var}': {e}") from None
    return out


MAP_KINDS = {"hash", "lruhash", "percpuhash", "percpulruhash"}


def check_map_decls(program: A.Program) -> dict[str, tuple[str, int, A.Span]]:
    """`let @m = kind(N);` declarations by map name."""
    out: dict[str, tuple[str, int, A.Span]] = {}
    for d in program.map_decls:
        if d.kind not in MAP_KINDS:
            raise CompileError(f"Invalid bpf map type: {d.kind}. Valid types: hash, lruhash, percpuhash, "
                               "percpulruhash", d.span)
        if d.max_entries <= 0:
            raise CompileError(f"Max entries for {d.name} must be greater than 0", d.span)
        if d.name in out:
            raise CompileError(f"Map {d.name} was already declared", d.span)
        out[d.name] = (d.kind, d.max_entries, d.span)
    return out


def unstable_features(program: A.Program, opts: dict[str, Any]) -> list[tuple[str, A.Span | None]]:
    """bpftrace's unstable-feature gate: map declarations and imports warn unless enabled."""
    out: list[tuple[str, A.Span | None]] = []
    uses: list[tuple[str, str, A.Span | None]] = []
    if program.map_decls:
        uses.append(("map declarations", "unstable_map_decl", program.map_decls[0].span))
    if opts.get("imported"):
        uses.append(("imports", "unstable_import", None))
    ts = next((n for n in A.walk(program.probes) if isinstance(n, A.Call) and n.name == "tseries"), None)
    if ts is not None:
        uses.append(("tseries", "unstable_tseries", ts.span))
    addr = next((n for n in A.walk(program.probes) if isinstance(n, A.Unop) and n.op == "&"), None)
    if addr is not None:
        uses.append(("address-of operator (&)", "unstable_addr", addr.span))
    for feature, key, span in uses:
        mode = opts.get(key, "warn")
        if mode == "error":
            raise CompileError(f"{feature} feature is not enabled by default. To enable this unstable feature, "
                               f"set the config flag to enable. {key}=enable", span)
        if mode == "warn":
            out.append((f"Script is using an unstable feature: {feature}. To prevent this warning you must "
                        f"explicitly enable it in the config e.g. {key}=enable", None))
    return out


# config()'s record (0.26's __builtin_config): the settings this run uses, in 0.26's order;
# values not set by the script or environment are the ones bpfscope runs with
_RECORD_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("cpp_demangle", True), ("lazy_symbolication", False), ("print_maps_on_exit", True),
    ("use_blazesym", False), ("show_debug_info", True),
    ("log_size", 1 << 22), ("max_bpf_progs", 1024), ("max_cat_bytes", 10240), ("max_map_keys", 4096),
    ("max_probes", 1024), ("max_strlen", DEFAULT_MAX_STRLEN), ("on_stack_limit", 32), ("perf_rb_pages", 64),
    ("str_trunc_trailer", ".."),
    ("unstable_import_statement", "warn"), ("unstable_tseries", "warn"), ("unstable_typeinfo", "warn"),
    ("unstable_dw_ustack", "warn"),
    ("missing_probes", "warn"), ("stack_mode", "bpftrace"), ("license", "GPL"),
)


def inline_config_calls(program: A.Program, cfg: Mapping[str, Any]) -> None:
    """Replace every `config()` with a record literal of the effective settings, so that
    `config().max_strlen` is a compile-time constant (a user macro named config wins)."""
    if any(m.name == "config" for m in program.macros):
        return
    from .desugar import rewrite

    def record(span: A.Span) -> A.Record:
        names: list[str] = []
        elems: list[A.Expr] = []
        for name, default in _RECORD_DEFAULTS:
            value = cfg.get("unstable_import" if name == "unstable_import_statement" else name, default)
            names.append(name)
            elems.append(A.Bool(span=span, value=value) if isinstance(value, bool)
                         else A.Int(span=span, value=value) if isinstance(value, int)
                         else A.Str(span=span, value=str(value)))
        return A.Record(span=span, names=names, elems=elems)

    def fix(node: Any, _visit: Any) -> Any:
        return record(node.span) if isinstance(node, A.Call) and node.name == "config" and not node.args else None

    rewrite([*program.probes, *program.functions], fix)
