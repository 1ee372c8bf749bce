"""bcc.containers: the container filter text scripts splice into their programs. Without
--cgroupmap/--mntnsmap nothing is filtered; with them we say plainly it is not served yet."""

from __future__ import annotations

from typing import Any


def filter_by_containers(args: Any) -> str:
    if getattr(args, "cgroupmap", None) or getattr(args, "mntnsmap", None):
        from bpfscope.bcc.errors import Unsupported

        raise Unsupported("--cgroupmap/--mntnsmap filters are not supported by bpfscope yet")
    return "\n#define container_should_be_filtered() 0\n"
