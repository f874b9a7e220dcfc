"""The load tester's command line."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from client.loadtest.config import parse


def test_the_documented_command_line() -> None:
    cfg = parse(
        shlex.split(
            "--url ws://127.0.0.1:9/dev --connections 1000 --rooms 10 --rate 500 --duration 30"
            " --ramp 250 --payload 128 --secret s --json out.json --plot out.png"
        )
    )
    assert (cfg.connections, cfg.rooms, cfg.rate, cfg.duration_s) == (1000, 10, 500.0, 30.0)
    assert (cfg.ramp, cfg.payload, cfg.secret) == (250.0, 128, "s")
    assert (cfg.json_path, cfg.plot_path) == (Path("out.json"), Path("out.png"))
    assert cfg.rate_warning() is None  # 0.5 msg/s per connection


def test_a_rate_over_the_service_limit_is_warned_about() -> None:
    cfg = parse(shlex.split("--connections 10 --rooms 2 --rate 100"))
    warning = cfg.rate_warning()
    assert warning is not None and "rate_limited" in warning and "10.0 msg/s" in warning


@pytest.mark.parametrize(
    "args",
    [
        "--connections 0",
        "--connections 2 --rooms 3",
        "--rate -1",
        "--payload 40000",
        "--token t --secret s",
    ],
)
def test_bad_arguments_exit_with_usage(args: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(args.split())
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err
