"""What `python -m infra` shows of the functions' logs: one line per invocation, warnings,
and the EMF metrics summed per interval instead of one raw JSON line per frame."""

from __future__ import annotations

import io
import json
from typing import Any

from infra.awslambda.logs import ConsoleLog, InvocationReport, describe_event, emf_metrics
from tests.conftest import load_event


def emf(**metrics: Any) -> str:
    """An EMF line as Powertools' Metrics writes it."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "svc",
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": n, "Unit": "Count"} for n in metrics],
                    }
                ],
            },
            "service": "svc",
            **metrics,
        }
    )


def report(**changes: Any) -> InvocationReport:
    fields: dict[str, Any] = {
        "function": "message",
        "request_id": "3f1c2d9e-0000-4000-8000-000000000000",
        "trigger": "send",
        "source": "U1axD4OFmf6Lkyc=",
        "ok": True,
        "error_type": None,
        "error_message": None,
        "timed_out": False,
        "duration_ms": 6.4,
        "init_ms": None,
    }
    return InvocationReport(**{**fields, **changes})


def console(**options: Any) -> tuple[ConsoleLog, io.StringIO]:
    out = io.StringIO()
    return ConsoleLog(out=out, **options), out


def test_emf_values_are_summed_per_metric_name() -> None:
    assert emf_metrics(emf(Frames=1, Deliveries=[3, 4])) == {"Frames": 1, "Deliveries": 7}
    assert emf_metrics('{"level":"INFO","message":"hi"}') is None
    assert emf_metrics("plain text") is None


def test_metrics_fold_into_one_summary_line() -> None:
    log, out = console()
    for _ in range(40):
        log.line("message", emf(Frames=1, Deliveries=3))
    log.line("fanout", emf(Deliveries=250, GoneConnections=2))
    assert out.getvalue() == ""  # no raw EMF line
    summary = log.summary()
    assert summary is not None
    assert "Deliveries 370 " in summary and "Frames 40 " in summary
    assert "GoneConnections 2 " in summary
    assert log.summary() is None  # a new interval: nothing happened in it


def test_one_short_line_per_invocation() -> None:
    log, out = console()
    log.line("message", "START RequestId: 3f1c Version: $LATEST")
    log.line("message", json.dumps({"level": "INFO", "message": "refused", "code": "x"}))
    log.invocation(report(init_ms=231.6))
    log.line("message", "END RequestId: 3f1c")
    log.line("message", "REPORT RequestId: 3f1c\tDuration: 6.40 ms")
    (line,) = out.getvalue().splitlines()
    assert line.endswith(
        "message     send  conn U1axD4OFmf6Lkyc=  ok  6 ms  (cold start, init 232 ms)"
    )


def test_errors_warnings_and_prints_are_shown() -> None:
    log, out = console()
    log.line("message", json.dumps({"level": "ERROR", "message": "action failed"}))
    log.line("message", "[WARNING]\t2026-12-04T20:40:22.460Z\t3f1c\tvia logging")
    log.line("message", "debug print from a handler")
    log.invocation(report(ok=False, error_type="KeyError", error_message="'room'"))
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("| ERROR action failed")
    assert lines[1].endswith("| WARNING via logging")
    assert lines[2].endswith("| debug print from a handler")
    assert "send  conn U1axD4OFmf6Lkyc=  KeyError: 'room'  6 ms" in lines[3]
    summary = log.summary()
    assert summary is not None and "1 invocation (message 1), 1 error" in summary


def test_a_flood_of_invocations_is_counted_not_printed() -> None:
    log, out = console(max_lines=3)
    for _ in range(10):
        log.invocation(report())
    log.invocation(report(ok=False, error_type="Exception", error_message="boom"))
    assert len(out.getvalue().splitlines()) == 4  # three, then the error
    summary = log.summary()
    assert summary is not None and "11 invocations" in summary and "7 not shown" in summary


def test_verbose_shows_every_raw_line() -> None:
    log, out = console(verbose=True)
    raw = [emf(Frames=1), "START RequestId: 1 Version: $LATEST", '{"level":"INFO"}']
    for line in raw:
        log.line("message", line)
    assert [line.split(" | ", 1)[1] for line in out.getvalue().splitlines()] == raw


def test_the_trigger_of_each_event_shape() -> None:
    assert describe_event(load_event("ws_message")) == (
        "send",
        load_event("ws_message")["requestContext"]["connectionId"],
    )
    assert describe_event(load_event("ws_authorizer"))[0] == "authorizer $connect"
    assert describe_event(load_event("http_publish"))[0] == "POST /rooms/feed:cpu/messages"
    assert describe_event({"httpMethod": "GET", "path": "/ping"}) == ("GET /ping", "")
    assert describe_event({"shard": 2}) == ("", "")
