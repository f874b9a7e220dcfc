"""What `python -m infra` prints at start: the service's endpoints, what it ignored, and
only the lines the service itself asks for (custom.local.banner)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from infra.__main__ import banner, parse_args
from infra.local_settings import load
from infra.stack import LocalStack
from infra.tls import CertFiles

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "tests" / "echo_service" / "serverless.yml"


def stack_for(service: Path, **overrides: Any) -> LocalStack:
    loaded = load(service, "dev", given={"CHAT_JWT_SECRET": "s"}, env={})
    spec, settings = loaded.spec, loaded.settings
    gateway = SimpleNamespace(options=SimpleNamespace(static_dir=settings.web))
    fields: dict[str, Any] = {
        "spec": spec,
        "runtime": cast(Any, None),
        "gateway": gateway,
        "moto": cast(Any, None),
        "host": "127.0.0.1",
        "port": 8080,
        "dynamodb_endpoint": "http://127.0.0.1:9",
        "cert": CertFiles(Path("/c/server.pem"), Path("/c/server.key"), Path("/c/ca.pem")),
        "settings": settings,
        **overrides,
    }
    return LocalStack(**fields)


def test_another_service_gets_no_word_of_the_chat() -> None:
    text = banner(stack_for(ECHO))
    assert text.startswith("echo (stage dev, region eu-west-1) is up")
    assert "REST API         GET http://127.0.0.1:8080/dev/ping" in text
    assert "trust /c/ca.pem" in text
    for chat_word in ("wschat", "chat", "token", "JWT", "client.", "Web client"):
        assert chat_word not in text


def test_wschat_gets_its_ready_link_and_its_own_lines() -> None:
    text = banner(stack_for(REPO / "serverless.yml", dev_token="T0KEN"))
    assert text.startswith("wschat (stage dev, region us-east-1) is up")
    assert "  Web client       http://127.0.0.1:8080/#token=T0KEN" in text
    assert "  A token:   .venv/bin/python -m client.token alice" in text
    assert "  Connect:   ws://127.0.0.1:8080/dev?token=<token>" in text
    assert "secret" not in text.split("A token")[0]  # no secret printed anywhere above


def test_what_the_loader_ignored_is_listed() -> None:
    stack = stack_for(ECHO)
    stack.spec = type(stack.spec)(
        **{
            **stack.spec.__dict__,
            "ignored": ("functions.ping.events[1] (schedule): not reproduced",),
        }
    )
    assert "  ignored: functions.ping.events[1] (schedule): not reproduced" in banner(stack)


def test_template_is_an_alias_of_service() -> None:
    assert parse_args(["--template", "template.yaml"]).service == Path("template.yaml")


def rows(text: str, columns: int = 80) -> int:
    """How many rows `text` takes in a terminal `columns` wide (long lines wrap)."""
    return sum(max(1, -(-len(line) // columns)) for line in text.splitlines())


def test_wschat_ready_link_and_commands_end_a_banner_that_fits_one_screen() -> None:
    # serverless.yml has ~20 parts the harness does not reproduce (alarms, CloudFront...):
    # they are summed up at the top, so the ready link and the connect lines stay on an
    # 80x24 screen with room for make's own lines and the gateway's first log line.
    token = "e" * 170  # a real dev token's length
    text = banner(stack_for(REPO / "serverless.yml", dev_token=token))
    lines = text.splitlines()
    assert len(stack_for(REPO / "serverless.yml").spec.ignored) > 10
    assert rows(text) <= 18, text
    assert all(len(line) <= 80 for line in lines if "ignored" in line), text
    assert "  ignored: " in lines[1] and "--verbose lists them" in lines[1]
    assert "CloudWatch" in lines[2]
    tail = lines[-6:]
    assert tail[0] == f"  Web client       http://127.0.0.1:8080/#token={token}"
    assert tail[2].startswith("  A token:") and tail[3].startswith("  Connect:")
    assert tail[-1] == "Ctrl-C stops."


def test_verbose_lists_every_part_not_reproduced() -> None:
    stack = stack_for(REPO / "serverless.yml")
    text = banner(stack, verbose=True)
    for part in stack.spec.ignored:
        assert f"  ignored: {part}" in text


def test_the_summary_is_ascii_so_any_terminal_can_print_it() -> None:
    # A banner that cannot be encoded stops the stack before it serves (PYTHONIOENCODING
    # =ascii, a C locale on an old Python, a Windows code page).
    text = banner(stack_for(REPO / "serverless.yml"))
    summary = [line for line in text.splitlines() if "ignored" in line]
    summary.append(text.splitlines()[2])
    assert all(line.isascii() for line in summary), summary
