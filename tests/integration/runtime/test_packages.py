"""A sandbox is a Lambda package: isolated from the harness, on the declared Python, with
the function's code root, its layers, its requirements and a boto3 like the runtime's."""

from __future__ import annotations

import dataclasses
import sys
import zipfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from infra.awslambda import interpreters
from infra.awslambda.native_code import host_architecture
from infra.awslambda.packages import RUNTIME_BOTO3, PackageError
from infra.awslambda.runtime import LambdaRuntime
from infra.config import ConfigError, load_service
from infra.service import ServiceSpec
from tests.integration.runtime.conftest import SERVICE, Logs
from tests.unit.test_native_code import elf

HARNESS_ROOT = Path(__file__).resolve().parents[3]
# Importable beside the harness, never in a sandbox that did not ask for them.
HARNESS_MODULES = ("infra", "tests", "moto", "pytest", "flask", "yaml", "websockets")


def respec(**changes: Any) -> ServiceSpec:
    """The runtime tests' service with `changes` applied to its `inspect` function."""
    spec = load_service(SERVICE / "serverless.yml", "test")
    inspect = dataclasses.replace(spec.functions["inspect"], **changes)
    return dataclasses.replace(spec, functions={**spec.functions, "inspect": inspect})


@pytest.fixture
async def make_runtime() -> AsyncIterator[Any]:
    made: list[LambdaRuntime] = []

    def make(spec: ServiceSpec, **options: Any) -> LambdaRuntime:
        runtime = LambdaRuntime(spec, root=SERVICE, log=options.pop("log", None), **options)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.close()


async def inspect(runtime: LambdaRuntime, *modules: str) -> Mapping[str, Any]:
    outcome = await runtime.invoke("inspect", {"modules": list(modules)})
    assert outcome.ok, outcome
    result: Mapping[str, Any] = outcome.result
    return result


async def test_nothing_of_the_harness_is_importable(make_runtime: Any) -> None:
    seen = await inspect(make_runtime(respec()), *HARNESS_MODULES, "boto3", "botocore")
    assert seen["isolated"] == 1 and seen["no_site"] == 1
    for name in HARNESS_MODULES:
        assert seen["modules"][name] == f"ImportError: No module named '{name}'", name
    assert str(HARNESS_ROOT) not in seen["path"]
    assert not [p for p in seen["path"] if "site-packages" in p and "wschat-lambda" not in p]
    # boto3 and botocore at the runtime's version (its dependencies follow them).
    assert seen["modules"]["boto3"] == seen["modules"]["botocore"] == RUNTIME_BOTO3
    assert seen["path"][0] == seen["task_root"] == str(SERVICE.resolve())


async def test_layers_are_on_the_path_as_under_opt(make_runtime: Any, tmp_path: Path) -> None:
    # One layer as a directory, one as a zip; both ship `shared`, the later one wins, as
    # when Lambda unpacks them into one /opt in order.
    first = tmp_path / "first"
    (first / "python").mkdir(parents=True)
    (first / "python" / "shared.py").write_text("VALUE = 'first'\n")
    (first / "python" / "only_first.py").write_text("VALUE = 'first'\n")
    second = tmp_path / "second.zip"
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    with zipfile.ZipFile(second, "w") as zf:
        zf.writestr(f"python/lib/{version}/site-packages/shared.py", "VALUE = 'second'\n")
    # Runs on the harness's version so the layer's lib/pythonX.Y path applies.
    spec = respec(layers=(first, second), runtime=version)
    seen = await inspect(make_runtime(spec), "shared", "only_first")
    assert seen["modules"] == {"shared": "second", "only_first": "first"}


async def test_a_missing_layer_names_the_function(make_runtime: Any, tmp_path: Path) -> None:
    runtime = make_runtime(respec(layers=(tmp_path / "build" / "layer.zip",)))
    with pytest.raises(PackageError, match=r"^functions\.inspect: layer .*layer\.zip is neither"):
        await runtime.prepare()


async def test_requirements_that_cannot_install_fail_the_start(
    make_runtime: Any, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("./no-such-directory\n")
    runtime = make_runtime(respec(requirements=requirements))
    with pytest.raises(PackageError, match=r"^functions\.inspect: pip install -r .* failed"):
        await runtime.prepare()


async def test_the_declared_python_runs_when_installed(make_runtime: Any) -> None:
    seen = await inspect(make_runtime(respec(runtime="python3.13")))
    assert seen["version"] == [3, 13]
    assert seen["execution_env"] == "AWS_Lambda_python3.13"


async def test_a_python_not_installed_runs_on_the_harness_with_a_warning(
    make_runtime: Any, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = make_runtime(respec(runtime="python3.99"))
    seen = await inspect(runtime)
    ran = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert seen["version"] == list(sys.version_info[:2])
    assert seen["execution_env"] == f"AWS_Lambda_{ran}"
    warning = f"python3.99 is not installed here: inspect runs on {ran} instead"
    assert runtime.warnings == [warning]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [warning]
    await inspect(runtime)  # once, at start: not again per invocation or sandbox
    assert runtime.warnings == [warning]


async def test_a_layer_built_for_another_architecture_is_named_at_start(
    make_runtime: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # What a layer built for the functions' declared arm64 looks like on an x86_64
    # machine (and the other way round): its extension modules cannot load here.
    foreign = "arm64" if host_architecture() == "x86_64" else "x86_64"
    layer = tmp_path / "layer.zip"
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("python/native.abi3.so", elf(foreign))
    runtime = make_runtime(respec(layers=(layer,), runtime=version, architecture=foreign))
    await runtime.prepare()
    (warning,) = runtime.warnings
    assert warning.startswith(f"layer {layer} holds compiled code for {foreign} (1 shared ")
    assert f"imports of it fail in inspect (they declare {foreign}" in warning
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [warning]
    seen = await inspect(runtime, "native")
    assert seen["modules"]["native"].startswith("ImportError: ")


async def test_a_layer_of_this_machines_code_passes_without_a_word(
    make_runtime: Any, tmp_path: Path
) -> None:
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("python/native.abi3.so", elf(host_architecture()))
        zf.writestr("python/pure.py", "VALUE = 'pure'\n")
    runtime = make_runtime(respec(layers=(layer,), architecture="arm64"))
    await runtime.prepare()
    assert runtime.warnings == []


def test_a_runtime_other_than_python_is_refused_by_function_name() -> None:
    spec = respec(runtime="nodejs20.x")
    with pytest.raises(ConfigError, match=r"^functions\.inspect: runtime 'nodejs20.x' cannot"):
        LambdaRuntime(spec, root=SERVICE, log=None)


async def test_a_zip_as_code_root_is_the_task_root(make_runtime: Any, tmp_path: Path) -> None:
    # What `sls package` / `sam build` produce: the function's zip, run as /var/task.
    archive = tmp_path / "function.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(SERVICE / "fns" / "__init__.py", "fns/__init__.py")
        zf.write(SERVICE / "fns" / "probe.py", "fns/probe.py")
    runtime = make_runtime(respec(code_root=archive))
    seen = await inspect(runtime)
    assert seen["task_root"] == seen["path"][0] != str(SERVICE.resolve())
    assert seen["task_root"].startswith(str(runtime.cache.root))  # unpacked once, kept


async def test_the_logs_frame_each_invocation_as_cloudwatch_does(make_runtime: Any) -> None:
    logs = Logs()
    runtime = make_runtime(respec(), log=logs)
    first = await runtime.invoke("echo", {})
    await runtime.invoke("echo", {})
    request_id = first.result["context"]["aws_request_id"]
    await logs.wait_for("echo", f"START RequestId: {request_id} Version: $LATEST")
    await logs.wait_for("echo", f"END RequestId: {request_id}")
    reports = [line for fn, line in logs.lines if line.startswith("REPORT RequestId:")]
    assert reports[0].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "\tMemory Size: 256 MB\tMax Memory Used: " in reports[0]
    assert "\tInit Duration: " in reports[0]  # the cold start
    assert "Init Duration" not in reports[1]  # warm


@pytest.mark.parametrize("runtime", ["python3.7", "python3.8"])
async def test_retired_runtimes_run_with_the_boto3_they_had(
    make_runtime: Any, runtime: str
) -> None:
    version = interpreters.declared_version(runtime)
    assert version is not None
    if await interpreters.find(version) is None:
        pytest.skip(f"{runtime} is not installed here")  # the fallback has its own test
    seen = await inspect(make_runtime(respec(runtime=runtime)), "boto3")
    assert seen["execution_env"] == f"AWS_Lambda_{runtime}"
    assert tuple(seen["version"]) == version
    assert seen["modules"]["boto3"] == {"python3.7": "1.33.13", "python3.8": "1.34.162"}[runtime]


async def test_wschat_functions_hold_their_handlers_and_protocol_facts_only(
    make_runtime: Any,
) -> None:
    # serverless.yml's package.patterns: the zip on AWS holds handlers/** and the
    # protocol's facts (wschat_protocol/**) and no more, so the harness, the clients and
    # the tests beside them cannot be imported either.
    spec = load_service(HARNESS_ROOT / "serverless.yml", "dev", env={"CHAT_JWT_SECRET": "s"})
    runtime = make_runtime(spec)
    await runtime.prepare()
    for name in spec.functions:
        package = runtime.package(name)
        assert package is not None
        root = package.task_root
        files = {p.relative_to(root).parts[0] for p in root.rglob("*") if not p.is_dir()}
        assert files <= {"handlers", "wschat_protocol", ".complete"}, (name, files)
        assert (root / "handlers" / "chat" / "__init__.py").is_file()
        assert (root / "wschat_protocol" / "__init__.py").is_file()
        assert not (root / "infra").exists() and not (root / "serverless.yml").exists()
