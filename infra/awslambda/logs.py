"""Function logs, as the harness shows them.

The runtime hands every line of a function's log stream (what CloudWatch Logs would
hold: the handler's output, START/END/REPORT) to a `LogSink`, and one `InvocationReport`
per invocation to a `ReportSink`. `print_log` prints the raw lines. `ConsoleLog` is what
`python -m infra` shows a person: one short line per invocation, the log lines at
WARNING and above, and the metrics functions emit in CloudWatch's Embedded Metric Format
(EMF) summed per metric name into one summary line every few seconds; with `verbose`,
every raw line as well. Nothing here knows a service: metric names come from the EMF.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

# (function name, one line of its log stream)
LogSink = Callable[[str, str], None]


@dataclass(frozen=True)
class InvocationReport:
    """One invocation as a person wants to see it."""

    function: str
    request_id: str  # "" when the sandbox never started (an init error)
    trigger: str  # "$connect", "send", "POST /rooms/{room}/messages", "" (direct invoke)
    source: str  # the WebSocket connection id, else ""
    ok: bool
    error_type: str | None
    error_message: str | None
    timed_out: bool
    duration_ms: float  # the handler's time (REPORT's Duration)
    init_ms: float | None  # set on a cold start (REPORT's Init Duration)


ReportSink = Callable[[InvocationReport], None]


def print_log(function: str, line: str) -> None:
    """The default log sink: `function | line` on the harness's stderr."""
    sys.stderr.write(f"{function} | {line}\n")


def describe_event(event: Mapping[str, Any]) -> tuple[str, str]:
    """(trigger, connection id) of an API Gateway event; ("", "") for anything else."""
    context = event.get("requestContext")
    context = context if isinstance(context, Mapping) else {}
    prefix = "authorizer " if event.get("type") == "REQUEST" else ""
    connection = str(context.get("connectionId") or "")
    http = context.get("http")
    if isinstance(http, Mapping):  # HTTP API, payload 2.0
        path = event.get("rawPath") or http.get("path", "")
        return f"{prefix}{http.get('method', '')} {path}", connection
    if "httpMethod" in event:  # REST API, payload 1.0
        return f"{prefix}{event['httpMethod']} {event.get('path', '')}", connection
    if context.get("routeKey"):  # WebSocket API
        return f"{prefix}{context['routeKey']}", connection
    return prefix.strip(), connection


def emf_metrics(line: str) -> dict[str, float] | None:
    """Metric name -> sum of its values in one EMF log line, or None if not EMF."""
    if not line.startswith("{") or '"_aws"' not in line:
        return None
    try:
        doc = json.loads(line)
        directives = doc["_aws"]["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError):
        return None
    sums: dict[str, float] = {}
    for directive in directives if isinstance(directives, list) else ():
        for metric in directive.get("Metrics", ()) if isinstance(directive, Mapping) else ():
            name = metric.get("Name") if isinstance(metric, Mapping) else None
            if not isinstance(name, str) or name in sums:
                continue
            values = doc.get(name)
            values = values if isinstance(values, list) else [values]
            sums[name] = sum(v for v in values if isinstance(v, int | float))
    return sums


_PLATFORM = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_REPORT ")
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}
# Keys every Powertools log line carries; the rest is what the handler chose to log.
_STANDARD_KEYS = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "correlation_id",
    "xray_trace_id",
    "sampling_rate",
    "exception",
    "exception_name",
    "stack_trace",
}


def _level(line: str) -> tuple[int | None, str]:
    """(level, short text) of a structured JSON or stdlib-format log line, else (None, line)."""
    if line.startswith("{"):
        try:
            doc = json.loads(line)
        except ValueError:
            return None, line
        if isinstance(doc, dict) and isinstance(doc.get("level"), str):
            level = _LEVELS.get(doc["level"].upper(), 20)
            extras = " ".join(f"{k}={v}" for k, v in doc.items() if k not in _STANDARD_KEYS)
            text = f"{doc['level'].upper()} {doc.get('message', '')}"
            if extras:
                text += f"  {extras}"
            if doc.get("exception"):
                text += f"  ({str(doc['exception']).strip().splitlines()[-1]})"
            return level, text
        return None, line
    if line.startswith("[") and "]\t" in line[:12]:  # the runtime's stdlib log format
        name = line[1 : line.index("]")]
        if name in _LEVELS:
            parts = line.split("\t", 3)
            return _LEVELS[name], f"{name} {parts[-1]}"
    return None, line


class ConsoleLog:
    """Function logs a person can follow (see the module docstring).

    `line` and `invocation` are the runtime's two sinks; `run()` prints the summary of
    each `interval_s` (nothing when nothing happened). At most `max_lines` successful
    invocations are shown per interval; the summary counts the rest.
    """

    def __init__(
        self,
        *,
        verbose: bool = False,
        interval_s: float = 5.0,
        max_lines: int = 40,
        out: TextIO | None = None,
    ) -> None:
        self.verbose = verbose
        self.interval_s = interval_s
        self.max_lines = max_lines
        self._out = out
        self._width = 10
        self._reset()

    def _reset(self) -> None:
        self._started = time.monotonic()
        self._metrics: dict[str, float] = {}
        self._invocations: Counter[str] = Counter()
        self._errors = 0
        self._shown = 0
        self._hidden = 0

    def _print(self, text: str) -> None:
        out = self._out or sys.stdout
        out.write(text + "\n")
        out.flush()

    def _prefix(self, function: str) -> str:
        self._width = max(self._width, len(function))
        return f"{time.strftime('%H:%M:%S')}  {function:<{self._width}}"

    # -- the sinks ----------------------------------------------------------------------------
    def line(self, function: str, text: str) -> None:
        metrics = emf_metrics(text)
        if metrics is not None:
            for name, value in metrics.items():
                self._metrics[name] = self._metrics.get(name, 0.0) + value
        if self.verbose:
            self._print(f"{self._prefix(function)} | {text}")
            return
        if metrics is not None or text.startswith(_PLATFORM):
            return
        level, short = _level(text)
        if level is None or level >= 30:  # plain output (prints, tracebacks) or a warning
            self._print(f"{self._prefix(function)} | {short}")

    def invocation(self, report: InvocationReport) -> None:
        self._invocations[report.function] += 1
        if not report.ok:
            self._errors += 1
        elif self._shown >= self.max_lines:
            self._hidden += 1
            return
        self._shown += 1
        who = f"conn {report.source}" if report.source else f"req {report.request_id[:8]}"
        if report.ok:
            outcome = "ok"
        elif report.timed_out:
            outcome = f"timed out ({report.error_message})"
        else:
            outcome = f"{report.error_type}: {report.error_message}"
        text = f"{self._prefix(report.function)}  {report.trigger or 'invoke'}  {who}  "
        text += f"{outcome}  {report.duration_ms:.0f} ms"
        if report.init_ms is not None:
            text += f"  (cold start, init {report.init_ms:.0f} ms)"
        self._print(text)

    # -- the summary --------------------------------------------------------------------------
    def summary(self) -> str | None:
        """The line for the interval so far (None when nothing happened); starts a new one."""
        elapsed = max(time.monotonic() - self._started, 1e-3)
        total = sum(self._invocations.values())
        if not total and not self._metrics:
            self._reset()
            return None
        by_function = ", ".join(f"{n} {c}" for n, c in self._invocations.most_common())
        noun = "invocation" if total == 1 else "invocations"
        text = f"{time.strftime('%H:%M:%S')}  -- {elapsed:.0f} s: {total} {noun}"
        if by_function:
            text += f" ({by_function})"
        text += f", {self._errors} error{'s' if self._errors != 1 else ''}"
        if self._hidden:
            text += f", {self._hidden} not shown"
        if self._metrics:
            metrics = ", ".join(
                f"{name} {_number(v)} ({_number(v / elapsed)}/s)"
                for name, v in sorted(self._metrics.items())
            )
            text += f"; metrics: {metrics}"
        self._reset()
        return text

    async def run(self) -> None:
        """Print the summary every `interval_s` seconds until cancelled."""
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                line = self.summary()
                if line is not None:
                    self._print(line)
        finally:
            line = self.summary()
            if line is not None:
                self._print(line)


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"
