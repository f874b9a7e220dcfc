"""Cold import time of each Lambda handler module: what a cold start pays before the
first event, on top of the interpreter's own start.

    python -m bench.cold_import [--samples 15] [--json out.json]

Every sample is a fresh interpreter started as the function's sandbox is (its Python,
`-I -S`, its package's path and its environment, as `infra.awslambda` builds them),
timing `import handlers.<name>` with perf_counter. A second series of fresh interpreters runs
under `-X importtime` to split the time between the big dependencies (boto3 + botocore,
Powertools, pydantic, PyJWT + cryptography) and the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.machine import describe
from client.tokens import SECRET_ENV, local_secret
from infra.awslambda.runtime import LambdaRuntime
from infra.config import load_service

ROOT = Path(__file__).resolve().parents[1]

# Top-level packages counted under each dependency.
GROUPS = {
    "boto3": ("boto3", "botocore", "s3transfer", "urllib3", "dateutil"),
    "powertools": ("aws_lambda_powertools", "aws_xray_sdk", "wrapt", "jmespath"),
    "pydantic": ("pydantic", "pydantic_core", "annotated_types", "typing_inspection"),
    "jwt": ("jwt", "cryptography", "cffi", "_cffi_backend"),
    "handlers": ("handlers",),
}

_TIMED = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


@dataclass(frozen=True)
class Sandbox:
    """How a function's sandbox starts: interpreter, path prelude, environment, cwd."""

    python: str
    prelude: str  # puts the package's entries around the standard library
    env: dict[str, str]
    cwd: Path

    def command(self, *options: str, code: str) -> list[str]:
        return [self.python, "-I", "-S", *options, "-c", self.prelude + code]


def handler_sandboxes() -> dict[str, Sandbox]:
    """module name -> how its Lambda sandbox starts."""
    spec = load_service(
        ROOT / "serverless.yml", "dev", parameter_values={SECRET_ENV: local_secret()}
    )
    runtime = LambdaRuntime(spec, root=ROOT, log=None)
    asyncio.run(runtime.prepare())
    found = {}
    for fn in spec.functions.values():
        module = fn.handler.rpartition(".")[0].replace("/", ".")
        interp, package = runtime.interpreter(fn.name), runtime.package(fn.name)
        assert interp is not None and package is not None
        front, back = [str(p) for p in package.front], [str(p) for p in package.back]
        prelude = f"import sys; sys.path[:0] = {front!r}; sys.path += {back!r}; "
        env = runtime.sandbox_environment(fn)
        found[module] = Sandbox(interp.executable, prelude, env, package.task_root)
    return dict(sorted(found.items()))


def timed_import(module: str, box: Sandbox) -> float:
    out = subprocess.run(
        box.command(code=_TIMED.format(module=module)),
        env=box.env,
        cwd=box.cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def import_breakdown(module: str, box: Sandbox) -> dict[str, float]:
    """Self time (seconds) per group under -X importtime, plus "total".

    A module outside the named groups (the standard library, small helpers) counts for
    the group of whoever imported it first: `asyncio` pulled in by the X-Ray SDK under
    Powertools' Tracer is Powertools' cost.
    """
    out = subprocess.run(
        box.command("-X", "importtime", code=f"import {module}"),
        env=box.env,
        cwd=box.cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    # importtime prints children before their parent, indented two spaces deeper.
    pending: list[tuple[int, str, float, list[Any]]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, raw_name = line[12:].split("|")
        depth = (len(raw_name) - len(raw_name.lstrip())) // 2
        kids = []
        while pending and pending[-1][0] > depth:
            kids.append(pending.pop())
        pending.append((depth, raw_name.strip(), int(self_us) / 1e6, kids))
    by_group: dict[str, float] = defaultdict(float)

    def walk(node: tuple[int, str, float, list[Any]], inherited: str) -> None:
        _depth, name, seconds, kids = node
        top = name.split(".")[0]
        group = next((g for g, tops in GROUPS.items() if top in tops), inherited)
        by_group[group] += seconds
        by_group["total"] += seconds
        for kid in kids:
            walk(kid, group)

    for root in pending:
        walk(root, "other")
    return dict(by_group)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def measure(samples: int) -> dict[str, Any]:
    envs = handler_sandboxes()
    walls: dict[str, list[float]] = {m: [] for m in envs}
    splits: dict[str, list[dict[str, float]]] = {m: [] for m in envs}
    for module, env in envs.items():
        timed_import(module, env)  # warm the OS page cache and .pyc files once
    # Round-robin over the modules, so a busy minute on a shared machine hits them alike.
    for _ in range(samples):
        for module, env in envs.items():
            walls[module].append(timed_import(module, env))
            splits[module].append(import_breakdown(module, env))
    results: dict[str, Any] = {}
    for module in envs:
        shares = {
            group: statistics.median(s.get(group, 0.0) / s["total"] for s in splits[module])
            for group in (*GROUPS, "other")
        }
        results[module] = {
            "median_ms": round(statistics.median(walls[module]) * 1000, 1),
            "p90_ms": round(percentile(walls[module], 90) * 1000, 1),
            "min_ms": round(min(walls[module]) * 1000, 1),
            "share": {k: round(v, 3) for k, v in shares.items()},
        }
    return results


def report(results: dict[str, Any], samples: int) -> str:
    groups = (*GROUPS, "other")
    head = f"{'module':32} {'median':>8} {'p90':>8}  " + " ".join(f"{g:>10}" for g in groups)
    lines = [f"cold import, {samples} fresh interpreters per module (ms; share of import time)"]
    lines += [head]
    for module, r in results.items():
        shares = " ".join(f"{r['share'][g] * 100:9.0f}%" for g in groups)
        lines.append(f"{module:32} {r['median_ms']:8.1f} {r['p90_ms']:8.1f}  {shares}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cold_import", description=__doc__)
    p.add_argument("--samples", type=int, default=15, help="fresh interpreters per module")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    results = measure(args.samples)
    print(describe())
    print(report(results, args.samples))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
