"""The local stack listens on loopback only, unless told otherwise, and says so loudly
when told.

Locally the Management and Invoke APIs check that a request is SigV4-signed, not who
signed it (the harness cannot know the key), so anyone who can reach the port can post
to or disconnect any client with any key: the gateway, the Management API and the
embedded DynamoDB must not be reachable from the network by default, and the embedded
DynamoDB never is.
"""

from __future__ import annotations

import inspect
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

from infra.__main__ import banner, parse_args
from infra.apigateway.server import GatewayOptions, beyond_loopback_warning
from infra.dynamodb import start_moto
from infra.stack import LocalStack, local_stack
from tests.unit.test_banner import stack_for

REPO = Path(__file__).resolve().parents[2]
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def _address(hex_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])  # stored little-endian
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return ipaddress.IPv6Address(words)


def listening_addresses(pids: list[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that these processes hold."""
    inodes: set[str] = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == LISTEN and inode in inodes:
                ip, port = local.split(":")
                found.append((str(_address(ip)), int(port, 16)))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


async def test_the_gateway_and_management_api_listen_on_loopback_only(stack: LocalStack) -> None:
    bound = stack.gateway.bound_addresses
    assert bound and all(is_loopback(a) for a in bound), bound
    assert stack.mgmt_url.startswith("http://127.0.0.1:")


async def test_nothing_the_stack_runs_listens_beyond_loopback(stack: LocalStack) -> None:
    await stack.runtime.warm()  # every function's sandbox is up, so its sockets count
    sandboxes = [pid for fn in stack.spec.functions for pid in stack.runtime.sandbox_pids(fn)]
    assert sandboxes
    pids = [os.getpid(), stack.moto.proc.pid, *sandboxes]
    found = listening_addresses(pids)
    ports = {port for _, port in found}
    assert stack.port in ports  # the gateway was seen: the check looks in the right place
    assert int(stack.moto.endpoint.rsplit(":", 1)[1]) in ports
    assert [(a, p) for a, p in found if not is_loopback(a)] == []


def test_every_entry_point_defaults_to_loopback() -> None:
    assert parse_args([]).host == "127.0.0.1"
    assert GatewayOptions().host == "127.0.0.1"
    assert inspect.signature(local_stack).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(start_moto).parameters["host"].default == "127.0.0.1"


def test_the_cli_documents_how_to_listen_elsewhere() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "infra", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    # The option's own help entry (not the usage line) says what the default is.
    entry = next(line for line in out.splitlines() if line.strip().startswith("--host"))
    assert "loopback" in entry


def test_binding_beyond_loopback_is_warned_about_at_start() -> None:
    assert beyond_loopback_warning(["127.0.0.1", "::1", "localhost"]) is None
    warning = beyond_loopback_warning(["0.0.0.0"])
    assert warning is not None and warning.startswith("WARNING: listening on 0.0.0.0")
    echo = REPO / "tests" / "echo_service" / "serverless.yml"
    exposed = banner(stack_for(echo, host="0.0.0.0"))
    assert exposed.splitlines()[2].startswith("WARNING: listening on 0.0.0.0")
    assert "WARNING" not in banner(stack_for(echo))


def test_the_embedded_dynamodb_is_off_the_banner_unless_asked_for() -> None:
    stack = stack_for(REPO / "serverless.yml", dev_token="T0KEN")
    assert "DynamoDB" not in banner(stack)
    assert "  DynamoDB         http://127.0.0.1:9" in banner(stack, show_dynamodb=True)
    assert parse_args(["--verbose"]).verbose and parse_args(["--show-dynamodb"]).show_dynamodb


async def test_the_embedded_dynamodb_does_not_follow_the_gateways_host() -> None:
    """Bound elsewhere (here another loopback address, 127.0.0.2), the gateway moves;
    the embedded DynamoDB stays on 127.0.0.1: only this machine's code talks to it."""
    echo = REPO / "tests" / "echo_service" / "serverless.yml"
    async with local_stack(echo, host="127.0.0.2", log=None) as elsewhere:
        assert elsewhere.gateway.bound_addresses == ["127.0.0.2"]
        assert elsewhere.moto.endpoint.startswith("http://127.0.0.1:")
