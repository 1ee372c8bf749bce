"""Flame graphs without Perl: stack collapsing, SVG rendering, diffs and pprof export.

Submodules are imported lazily by callers (the CLI benchmarks startup time), so this
package file stays empty of imports.
"""
