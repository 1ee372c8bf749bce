"""Push a Program's stack maps to a profiling server every interval: Pyroscope's
``/ingest`` (folded text or pprof) or Parca's ``/profiles/writeraw`` (pprof).

The maps hold counts since attach; a server wants what happened in ``[from, until)``,
so each push sends the difference from the previous snapshot. A push that fails is
kept in a bounded queue and retried first next time; when the queue is full the oldest
payload is dropped and counted (``stats['dropped']``), so a long outage costs memory
bounded by ``queue`` payloads, never more.
"""

from __future__ import annotations

import base64
import collections
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

Stacks = dict[tuple[str, ...], int]


def stacks_delta(now: Stacks, before: Stacks) -> Stacks:
    """Per-stack counts added since *before* (a stack that shrank, e.g. a cleared map, restarts)."""
    out: Stacks = {}
    for stack, n in now.items():
        d = n - before.get(stack, 0)
        if d < 0:
            d = n
        if d > 0:
            out[stack] = d
    return out


def app_name(app: str, labels: dict[str, str]) -> str:
    """Pyroscope's ``name`` parameter: ``app{k=v,...}`` (labels sorted, as its clients send)."""
    if not labels:
        return app
    return app + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


class ProfilePusher:
    """Snapshots, deltas and the retry queue; subclasses say how one interval is sent."""

    def __init__(self, url: str, app: str, labels: dict[str, str] | None = None, *,
                 sample_rate: int = 100, queue: int = 32, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.target = self.url
        self.app = app
        self.labels = dict(labels or {})
        self.sample_rate = sample_rate
        self.timeout = timeout
        self.queue: collections.deque[tuple[int, int, Stacks]] = collections.deque()
        self.max_queue = queue
        self.stats = {"sent": 0, "failed": 0, "dropped": 0}
        self.last: Stacks = {}
        self.since = int(time.time())

    def snapshot(self, progs: list[Any]) -> None:
        """Queue the interval's delta of the programs' stack maps (called under the map lock)."""
        from .stacks import merged_stacks, stack_maps

        now: Stacks = {}
        for prog in progs:
            maps, _skipped = stack_maps(prog)
            for frames, value in merged_stacks(maps).items():
                key = tuple(frames)
                now[key] = now.get(key, 0) + int(value)
        delta = stacks_delta(now, self.last)
        self.last = now
        until = int(time.time())
        if delta:
            self._enqueue((self.since, max(until, self.since + 1), delta))
        self.since = until

    def _enqueue(self, item: tuple[int, int, Stacks]) -> None:
        self.queue.append(item)
        while len(self.queue) > self.max_queue:
            self.queue.popleft()
            self.stats["dropped"] += 1

    def flush(self) -> None:
        """Send queued payloads oldest first; stop at the first failure (the server is down)."""
        while self.queue:
            start, until, stacks = self.queue[0]
            url, body, ctype = self.request(start, until, stacks)
            if not self._post(url, body, ctype):
                self.stats["failed"] += 1
                return
            self.queue.popleft()
            self.stats["sent"] += 1

    def request(self, start: int, until: int, stacks: Stacks) -> tuple[str, bytes, str]:
        raise NotImplementedError

    def pprof(self, start: int, until: int, stacks: Stacks) -> bytes:
        from ..flame.pprof import encode_profile, gzip_bytes

        period = 1_000_000_000 // self.sample_rate if self.sample_rate else 0
        return gzip_bytes(encode_profile(stacks, ("samples", "count"), period=period,
                                         duration_nanos=(until - start) * 1_000_000_000,
                                         time_nanos=start * 1_000_000_000))

    def _post(self, url: str, body: bytes, ctype: str) -> bool:
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return bool(200 <= r.status < 300)
        except (urllib.error.URLError, OSError, ValueError):
            return False


class PyroscopePusher(ProfilePusher):
    """``POST /ingest?name=app{labels}&from=&until=&format=folded|pprof``."""

    def __init__(self, *args: Any, fmt: str = "folded", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fmt = fmt

    def request(self, start: int, until: int, stacks: Stacks) -> tuple[str, bytes, str]:
        q = urllib.parse.urlencode({"name": app_name(self.app, self.labels), "from": start, "until": until,
                                    "format": self.fmt, "sampleRate": self.sample_rate,
                                    "spyName": "bpfscope", "units": "samples", "aggregationType": "sum"})
        url = f"{self.url}/ingest?{q}"
        if self.fmt == "folded":
            body = "".join(f"{';'.join(s)} {n}\n" for s, n in sorted(stacks.items())).encode()
            return url, body, "text/plain"
        boundary = uuid.uuid4().hex
        data = self.pprof(start, until, stacks)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return url, body, f"multipart/form-data; boundary={boundary}"


class ParcaPusher(ProfilePusher):
    """Parca's HTTP gateway for ``ProfileStoreService.WriteRaw``: JSON with base64 pprof bytes;
    the profile's name is the ``__name__`` label, the app and labels ride along as labels."""

    def request(self, start: int, until: int, stacks: Stacks) -> tuple[str, bytes, str]:
        labels = [{"name": "__name__", "value": "bpfscope_samples"}, {"name": "app", "value": self.app}]
        labels += [{"name": k, "value": v} for k, v in sorted(self.labels.items())]
        raw = base64.b64encode(self.pprof(start, until, stacks)).decode()
        body = json.dumps({"series": [{"labels": {"labels": labels}, "samples": [{"rawProfile": raw}]}],
                           "normalized": True}).encode()
        return f"{self.url}/profiles/writeraw", body, "application/json"
