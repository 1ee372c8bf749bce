"""Exports of a Program's stack maps: folded lines (``-f folded``) and pprof (``-f pprof``)."""
