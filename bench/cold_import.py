"""Cold import time of each Lambda handler module, as AWS pays it and as the dev venv
pays it, side by side in one run: what a cold start costs before the first event, on
top of the interpreter's own start.

    python -m bench.cold_import [--samples 15] [--baseline DIR] [--without-bytecode]
                                [--json out.json]

Targets, measured round-robin (module by module, target by target, so that a busy minute
on a shared host hits them alike):

- `3.11 venv @ <rev>` (`--baseline DIR`): another checkout (a worktree of an older
  commit, with its own `.venv`) importing its own handlers on its venv's Python with its
  own serverless.yml's environment: the figure a change is held to, in the same run;
- `3.11 venv`: the development venv on Python 3.11, `__pycache__` warm, as `make run`
  and the tests import the handlers;
- `3.12 layer`: as Lambda lays the package out: the zips `scripts/package.sh` writes
  for this machine's architecture (as the artifact tier runs them), the function zip
  unpacked as /var/task and the layer as /opt, and boto3 + botocore at the python3.12
  runtime's version, on
  `python3.12 -I -B`: nothing else on the path, and no bytecode written (/var/task and
  /opt are read-only on Lambda: only the bytecode the zips ship is used);
- `3.12 layer, no bytecode` (`--without-bytecode`): the same with the layer's `.pyc`
  files removed, as the layer was before it shipped them.

Every sample is a fresh interpreter with the environment Lambda gives the function
(serverless.yml's variables), timing `import handlers.<name>` with perf_counter. A
second series under `-X importtime` splits the time between the big dependencies
(boto3 + botocore, Powertools, pydantic, PyJWT + cryptography) and the rest. A last
row, `stdlib alone (control)`, imports only the standard-library modules the handlers'
imports pull in, on every target: the interpreter's share of a difference between them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import host_architecture
from bench.machine import describe
from client.tokens import SECRET_ENV, local_secret
from infra.config import load_service

ROOT = Path(__file__).resolve().parents[1]
# boto3 and botocore as the python3.12 Lambda runtime ships them (the same pin as the
# local Lambda runtime's sandboxes).
RUNTIME_BOTO3 = "1.40.4"
PACKAGED = "3.12 packaged zips"
SDK_DIR = ROOT / "build" / f"bench-runtime-sdk-{RUNTIME_BOTO3}-py312"

# Top-level packages counted under each dependency.
GROUPS = {
    "boto3": ("boto3", "botocore", "s3transfer", "urllib3", "dateutil"),
    "powertools": ("aws_lambda_powertools", "aws_xray_sdk", "wrapt", "jmespath"),
    "pydantic": ("pydantic", "pydantic_core", "annotated_types", "typing_inspection"),
    "jwt": ("jwt", "cryptography", "cffi", "_cffi_backend"),
    "handlers": ("handlers",),
}

# A control row: the standard-library modules the handlers' imports pull in, imported
# alone on each target, so that what the interpreter costs (3.11 against 3.12) is read
# apart from what the code and the layer cost.
CONTROL = (
    "asyncio, typing, dataclasses, json, logging, email.utils, http.client, ssl, pathlib, "
    "inspect, urllib.parse, hashlib, threading"
)
CONTROL_NAME = "stdlib alone (control)"

# Wall time and the process's CPU time: on a shared host the CPU time moves far less
# with the load than the wall time does.
_TIMED = (
    "import time; w, c = time.perf_counter(), time.process_time(); import {module}; "
    "print(time.perf_counter() - w, time.process_time() - c)"
)


@dataclass(frozen=True)
class Target:
    name: str
    argv: tuple[str, ...]  # the interpreter and its flags, before `-c code`
    prelude: str  # code run before the timed import (sets sys.path)
    cwd: Path
    extra_env: dict[str, str]
    # module -> its function's environment (a baseline checkout's own serverless.yml's)
    environments: dict[str, dict[str, str]]


def python312() -> str:
    out = subprocess.run(
        [str(ROOT / "scripts" / "find_python.sh"), "3.12"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench.cold_import: {out.stderr.strip()}")
    return out.stdout.strip()


def lambda_environments(root: Path = ROOT) -> dict[str, dict[str, str]]:
    """module name -> the environment Lambda gives its function (no PYTHON* variables),
    from `root`'s serverless.yml."""
    spec = load_service(
        root / "serverless.yml", "dev", parameter_values={SECRET_ENV: local_secret()}
    )
    envs = {}
    for fn in spec.functions.values():
        module = fn.handler.rpartition(".")[0].replace("/", ".")
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            **fn.environment,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_LAMBDA_FUNCTION_NAME": f"wschat-dev-{fn.name}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "_HANDLER": fn.handler,
        }
        envs[module] = env
    envs = dict(sorted(envs.items()))
    envs[CONTROL] = {"PATH": "/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC"}
    return envs


def ensure_runtime_sdk(py312: str) -> Path:
    """boto3 + botocore at the runtime's version, compiled by python3.12 (the runtime's
    copy under /var/runtime has its bytecode)."""
    if (SDK_DIR / ".complete").exists():
        return SDK_DIR
    shutil.rmtree(SDK_DIR, ignore_errors=True)
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "uv"),
            "pip",
            "install",
            "--quiet",
            "--python",
            py312,
            "--target",
            str(SDK_DIR),
            "--compile-bytecode",
            f"boto3=={RUNTIME_BOTO3}",
            f"botocore=={RUNTIME_BOTO3}",
        ],
        check=True,
    )
    (SDK_DIR / ".complete").touch()
    return SDK_DIR


def ensure_package(arch: str) -> tuple[Path, Path]:
    """(function zip, layer zip) as scripts/package.sh writes them for `arch`."""
    directory = Path("build") / f"artifact-{arch}"
    env = {**os.environ, "WSCHAT_ARCHITECTURE": arch, "PACKAGE_DIR": str(directory)}
    subprocess.run(
        [str(ROOT / "scripts" / "package.sh"), "dev"],
        cwd=ROOT,
        env={**env, "CHECKOV": "0"},
        check=True,
    )
    return ROOT / directory / "wschat.zip", ROOT / "build" / f"layer-{arch}.zip"


def baseline_target(root: Path) -> Target:
    """Another checkout's handlers on its own venv, e.g. `git worktree add ../base <rev>`
    (then `make lint` there, which makes its `.venv`)."""
    python = root / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"bench.cold_import: no {python} (make lint in {root} makes it)")
    rev = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    env = {"PYTHONPATH": str(root)}
    # Its venv's __pycache__ is warm after the first import, as this checkout's is.
    return Target(
        f"3.11 venv @ {rev or root.name}", (str(python),), "", root, env, lambda_environments(root)
    )


@contextmanager
def lambda_targets(without_bytecode: bool, baseline: Path | None) -> Iterator[list[Target]]:
    py312 = python312()
    sdk = ensure_runtime_sdk(py312)
    function_zip, layer = ensure_package(host_architecture())
    envs = lambda_environments()
    with tempfile.TemporaryDirectory(prefix="cold-import-") as tmp:
        task, opt = Path(tmp) / "task", Path(tmp) / "opt"
        zipfile.ZipFile(function_zip).extractall(task)
        zipfile.ZipFile(layer).extractall(opt)
        prelude = (
            "import sys; "
            f"sys.path[:0] = [{str(task)!r}, {str(opt / 'python')!r}]; "
            f"sys.path.append({str(sdk)!r}); "
        )
        targets = [baseline_target(baseline.resolve())] if baseline else []
        targets += [
            Target("3.11 venv", (sys.executable,), "", ROOT, {"PYTHONPATH": str(ROOT)}, envs),
            Target(PACKAGED, (py312, "-I", "-B"), prelude, task, {}, envs),
        ]
        if without_bytecode:
            bare = Path(tmp) / "opt-no-bytecode"
            shutil.copytree(opt, bare, ignore=shutil.ignore_patterns("__pycache__"))
            bare_prelude = prelude.replace(str(opt / "python"), str(bare / "python"))
            targets.append(
                Target("3.12 layer, no bytecode", (py312, "-I", "-B"), bare_prelude, task, {}, envs)
            )
        yield targets


def run(
    target: Target, env: dict[str, str], code: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*target.argv, *flags, "-c", target.prelude + code],
        env={**env, **target.extra_env},
        cwd=target.cwd,
        capture_output=True,
        text=True,
        check=True,
    )


def timed_import(target: Target, module: str) -> tuple[float, float]:
    """(wall, CPU) seconds of the import."""
    out = run(target, target.environments[module], _TIMED.format(module=module))
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def import_breakdown(target: Target, module: str) -> dict[str, float]:
    """Self time (seconds) per group under -X importtime, plus "total".

    A module outside the named groups (the standard library, small helpers) counts for
    the group of whoever imported it first: `asyncio` pulled in by a dependency is that
    dependency's cost.
    """
    out = run(target, target.environments[module], f"import {module}", "-X", "importtime")
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


def measure(samples: int, targets: list[Target]) -> dict[str, dict[str, Any]]:
    # The modules this checkout has (a baseline without one of them skips it).
    packaged = next(t for t in targets if t.name == PACKAGED)
    modules = list(packaged.environments)
    keys = [(t, m) for m in modules for t in targets if m in t.environments]
    walls: dict[tuple[str, str], list[float]] = {(t.name, m): [] for t, m in keys}
    cpus: dict[tuple[str, str], list[float]] = {(t.name, m): [] for t, m in keys}
    splits: dict[tuple[str, str], list[dict[str, float]]] = {(t.name, m): [] for t, m in keys}
    for target, module in keys:
        timed_import(target, module)  # warm the OS page cache (and a venv's __pycache__)
    for _ in range(samples):
        for target, module in keys:
            wall, cpu = timed_import(target, module)
            walls[target.name, module].append(wall)
            cpus[target.name, module].append(cpu)
            splits[target.name, module].append(import_breakdown(target, module))
    results: dict[str, dict[str, Any]] = defaultdict(dict)
    for target, module in keys:
        key = (target.name, module)
        shares = {
            group: statistics.median(s.get(group, 0.0) / s["total"] for s in splits[key])
            for group in (*GROUPS, "other")
        }
        results[target.name][module] = {
            "median_ms": round(statistics.median(walls[key]) * 1000, 1),
            "cpu_median_ms": round(statistics.median(cpus[key]) * 1000, 1),
            "p90_ms": round(percentile(walls[key], 90) * 1000, 1),
            "min_ms": round(min(walls[key]) * 1000, 1),
            "share": {k: round(v, 3) for k, v in shares.items()},
        }
    return dict(results)


def shown(module: str) -> str:
    return CONTROL_NAME if module == CONTROL else module


def report(results: dict[str, dict[str, Any]], samples: int) -> str:
    names = list(results)
    venvs = [n for n in names if n.startswith("3.11 venv")]
    modules = list(results[PACKAGED])

    def cell(name: str, module: str) -> str:
        r = results[name].get(module)
        return f"{r['cpu_median_ms']:>9.1f} ({r['median_ms']:6.1f})" if r else f"{'-':>18}"

    def ratio(module: str, base: str, key: str) -> str:
        if module not in results[base]:
            return f"{'-':>6}"
        return f"{results[PACKAGED][module][key] / results[base][module][key]:>5.2f}x"

    lines = [
        f"cold import, {samples} fresh interpreters per module and target: "
        "median CPU ms (median wall ms)",
        f"{'module':30}"
        + "".join(f"{n[:24]:>26}" for n in names)
        + "".join(f"   packaged / {n} (CPU, wall)" for n in venvs),
    ]
    for module in modules:
        cells = "".join(f"{cell(n, module):>26}" for n in names)
        ratios = "".join(
            f"{'':>{len(f'   packaged / {n} (CPU, wall)') - 14}}"
            f"{ratio(module, n, 'cpu_median_ms')}  {ratio(module, n, 'median_ms')}"
            for n in venvs
        )
        lines.append(f"{shown(module):30}{cells}{ratios}")
    groups = (*GROUPS, "other")
    for name in names:
        lines.append(f"\nshare of import time, {name}")
        lines.append(f"{'module':30}" + " ".join(f"{g:>10}" for g in groups))
        for module in modules:
            if module not in results[name]:
                continue
            share = results[name][module]["share"]
            lines.append(
                f"{shown(module):30}" + " ".join(f"{share[g] * 100:9.0f}%" for g in groups)
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cold_import", description=__doc__)
    p.add_argument("--samples", type=int, default=15, help="fresh interpreters per module")
    p.add_argument(
        "--without-bytecode",
        action="store_true",
        help="also measure the layer with its .pyc files removed",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also measure another checkout's handlers on its own .venv (e.g. a worktree "
        "of the commit the target is held to)",
    )
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    with lambda_targets(args.without_bytecode, args.baseline) as targets:
        print(describe())
        results = measure(args.samples, targets)
    print(report(results, args.samples))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
