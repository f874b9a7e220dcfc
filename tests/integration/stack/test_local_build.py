"""`python -m infra` on a machine of another architecture than the service deploys for:
`custom.local.build` builds the layer for this machine before the stack starts, and
`custom.local.layers` runs that copy (what `make run` relies on with arm64 deployed from
an x86_64 laptop, or the other way round)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from infra.awslambda.native_code import host_architecture
from infra.dynamodb import MotoServer
from infra.local_settings import BuildFailed
from infra.stack import local_stack
from tests.integration.corpus.sockets import ask, open_ws
from tests.integration.infra_cli import banner_value, cli

OTHER = "x86_64" if host_architecture() == "arm64" else "arm64"

# The layer's "native code" is a module naming the architecture it was built for: the
# build writes build/layer-<arch>/python/built_for.py for the architecture it is given.
BUILD_PY = """\
import pathlib, sys
arch = sys.argv[1]
out = pathlib.Path("build") / f"layer-{arch}" / "python"
out.mkdir(parents=True, exist_ok=True)
(out / "built_for.py").write_text(f"ARCH = {arch!r}\\n")
print(f"built the layer for {arch}")
"""

BUILD = f"{sys.executable} build_layer.py {host_architecture()}"

SERVICE = f"""\
service: other-arch
provider:
  name: aws
  runtime: python3.12
  architecture: {OTHER}
  websocketsApiRouteSelectionExpression: $request.body.action
layers:
  native:
    package: {{artifact: build/layer-{OTHER}.zip}}
custom:
  local:
    layers:
      native:
        x86_64: build/layer-x86_64
        arm64: build/layer-arm64
    build: {BUILD}
functions:
  which:
    handler: which.handler
    layers: [{{Ref: NativeLambdaLayer}}]
    events:
      - websocket: {{route: which, routeResponseSelectionExpression: $default}}
"""


def service(tmp_path: Path, build: str | None = None) -> Path:
    (tmp_path / "build_layer.py").write_text(BUILD_PY)
    (tmp_path / "which.py").write_text(
        "import built_for\n\n\ndef handler(event, context):\n"
        "    return {'statusCode': 200, 'body': built_for.ARCH}\n"
    )
    text = SERVICE if build is None else SERVICE.replace(f"build: {BUILD}\n", f"build: {build}\n")
    path = tmp_path / "serverless.yml"
    path.write_text(text)
    return path


async def test_the_cli_builds_and_runs_this_machines_layer(tmp_path: Path) -> None:
    async with cli("--service", str(service(tmp_path))) as (output, _):
        assert f"built the layer for {host_architecture()}" in output
        async with await open_ws(banner_value(output, "WebSocket API")) as ws:
            assert await ask(ws, {"action": "which"}) == host_architecture()
    assert not (tmp_path / "build" / f"layer-{OTHER}").exists()


async def test_a_failing_build_stops_the_start_by_name(
    tmp_path: Path, moto_server: MotoServer
) -> None:
    path = service(tmp_path, build=f"{sys.executable} -c 'raise SystemExit(\"no wheels\")'")
    with pytest.raises(BuildFailed) as failed:
        async with local_stack(path, "dev", moto=moto_server, build=True, build_output=False):
            pass
    assert str(failed.value).startswith("custom.local.build[0]: ")
    assert str(failed.value).endswith("failed with exit status 1:\nno wheels")
