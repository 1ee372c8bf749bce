"""Per-architecture register layouts (struct pt_regs) and calling conventions."""
