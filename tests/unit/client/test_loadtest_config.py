"""The load tester's command line and config file."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from client.loadtest.config import Stage, parse


def test_the_documented_command_line() -> None:
    cfg = parse(
        shlex.split(
            "--url ws://127.0.0.1:9/dev --connections 1000 --rooms 10 --rate 500 --duration 30"
            " --ramp 250 --payload 128 --secret s --json out.json --plot out.png"
        )
    )
    assert (cfg.connections, cfg.rooms, cfg.rate, cfg.payload, cfg.secret) == (
        1000,
        10,
        500.0,
        128,
        "s",
    )
    # Ramp at 250/s, then 30 s once everyone is in.
    assert cfg.stages == (Stage(30.0, 1000, 250.0),) and cfg.after_ramp
    assert (cfg.json_path, cfg.plot_path) == (Path("out.json"), Path("out.png"))
    assert cfg.rate_warning() is None  # 0.5 msg/s per connection
    assert cfg.mode == "local"


def test_stages_mix_and_thresholds() -> None:
    cfg = parse(
        shlex.split(
            "--stage 30s:100:10 --stage 2m:100 --stage 30s:0:10 --rooms 10 --rate 20"
            " --mix send=90,history=5,churn=3,reconnect=2 --max-p99-ms 1500 --max-lost 0"
            " --max-error-rate 0.01 --master --expect-workers 2"
        )
    )
    assert cfg.stages == (Stage(30, 100, 10), Stage(120, 100, 100), Stage(30, 0, 10))
    assert cfg.connections == 100 and cfg.duration_s == 180
    shares = {"send": 0.9, "history": 0.05, "churn": 0.03, "reconnect": 0.02}
    assert cfg.mix == pytest.approx(shares)
    assert cfg.action_rate == pytest.approx(0.2 / 0.9)  # sends stay at --rate
    assert (cfg.thresholds.max_p99_ms, cfg.thresholds.max_lost) == (1500, 0)
    assert cfg.thresholds.max_error_rate == 0.01
    assert (cfg.mode, cfg.expect_workers) == ("master", 2)


def test_a_config_file_gives_the_same_options(tmp_path: Path) -> None:
    f = tmp_path / "run.toml"
    f.write_text(
        'url = "ws://h:1/dev"\nrooms = 5\nrate = 10\nstages = ["10s:50:5", "20s:50"]\n'
        "max-p99-ms = 800\nmax-error-rate = 0.05\n"
    )
    cfg = parse(["--config", str(f), "--rate", "12"])  # the command line wins
    assert (cfg.url, cfg.rooms, cfg.rate) == ("ws://h:1/dev", 5, 12.0)
    assert cfg.stages == (Stage(10, 50, 5), Stage(20, 50, 50))
    assert (cfg.thresholds.max_p99_ms, cfg.thresholds.max_error_rate) == (800, 0.05)


def test_a_rate_over_the_service_limit_is_warned_about() -> None:
    cfg = parse(shlex.split("--connections 10 --rooms 2 --rate 100"))
    warning = cfg.rate_warning()
    assert warning is not None and "rate_limited" in warning and "10.0 frames/s" in warning


@pytest.mark.parametrize(
    "args",
    [
        "--connections 0",
        "--connections 2 --rooms 3",
        "--rate -1",
        "--payload 40000",
        "--token t --secret s",
        "--stage 10s",
        "--mix dance=1",
        "--max-error-rate 2",
        "--master --worker",
    ],
)
def test_bad_arguments_exit_with_usage(args: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(args.split())
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_an_unknown_key_in_the_config_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "run.toml"
    f.write_text("conections = 10\n")
    with pytest.raises(SystemExit):
        parse(["--config", str(f)])
    assert "unknown option 'conections'" in capsys.readouterr().err
