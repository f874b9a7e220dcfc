"""Process accounting from /proc: resident memory, CPU time, and a process's children.

Linux only, no psutil: the benches need RSS and CPU seconds of the gateway, the Lambda
sandboxes and moto, which are all our own child processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` (0 when it has exited)."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU time `pid` has used so far (0 when it has exited); with
    `reaped`, also that of its children that have exited and been waited for, so the
    CPU of short-lived processes (serverless-offline's) is not lost from a sum."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Field 2 (comm) may hold spaces: split after its closing parenthesis.
    rest = stat.rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])
    if reaped:
        ticks += int(rest[13]) + int(rest[14])
    return ticks / _TICKS


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children(pid: int) -> list[int]:
    """Direct children of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def harness_processes(gateway_pid: int) -> dict[str, list[int]]:
    """The processes of a `python -m infra` (or of any process running `local_stack`),
    grouped: the gateway itself, its Lambda sandboxes ("workers") and moto. Older
    checkouts (measured against this one) are recognised too: their sandboxes ran
    `-m infra.runtime.worker` and moto `-m infra.dynamo`."""
    groups: dict[str, list[int]] = {"gateway": [gateway_pid], "workers": [], "moto": []}
    for pid in descendants(gateway_pid):
        args = cmdline(pid)
        if "infra.runtime.worker" in args or any(
            arg.endswith("awslambda/bootstrap/bootstrap.py") for arg in args
        ):
            groups["workers"].append(pid)
        elif "infra.dynamodb" in args or "infra.dynamo" in args:
            groups["moto"].append(pid)
    return groups


def total(values: Mapping[str, Iterable[int]], measure: str = "rss") -> dict[str, float]:
    """Sum `rss_bytes` (or `cpu_seconds` with measure="cpu") per group."""
    fn = rss_bytes if measure == "rss" else cpu_seconds
    return {name: float(sum(fn(p) for p in pids)) for name, pids in values.items()}
