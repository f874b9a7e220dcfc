"""`--plot FILE.png`: delivery latency (p50 / p99 / max) and deliveries per second over time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from client.loadtest.png import Canvas, Color, text_width
from client.loadtest.stats import percentile

if TYPE_CHECKING:
    from client.loadtest.run import LoadRun

WIDTH, HEIGHT = 900, 560
LEFT, RIGHT = 70, 20
INK: Color = (40, 40, 40)
GRID: Color = (225, 225, 225)
P50: Color = (31, 119, 180)
P99: Color = (255, 127, 14)
MAX: Color = (170, 170, 170)
RATE: Color = (44, 160, 44)


def nice_step(top: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) for an axis from 0 to `top`."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def label(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


class Panel:
    """One chart area: maps data (x seconds, y value) to pixels and draws its axes."""

    def __init__(
        self, c: Canvas, top: int, bottom: int, x_max: float, y_max: float, title: str
    ) -> None:
        self.c, self.top, self.bottom = c, top, bottom
        self.x_max = x_max if x_max > 0 else 1.0
        step = nice_step(y_max)
        self.y_max = max(step, math.ceil(y_max / step) * step)
        right = c.width - RIGHT
        for i in range(round(self.y_max / step) + 1):
            y = self.py(i * step)
            c.line(LEFT, y, right, y, GRID)
            s = label(i * step)
            c.text(LEFT - 6 - text_width(s), y - 3, s, INK)
        xstep = nice_step(self.x_max, 8)
        for i in range(int(self.x_max / xstep) + 1):
            x = self.px(i * xstep)
            c.line(x, top, x, bottom, GRID)
            s = label(i * xstep)
            c.text(x - text_width(s) // 2, bottom + 5, s, INK)
        c.line(LEFT, top, LEFT, bottom, INK)
        c.line(LEFT, bottom, right, bottom, INK)
        c.text(LEFT, top - 12, title, INK)

    def px(self, x: float) -> int:
        return LEFT + round(x / self.x_max * (self.c.width - RIGHT - LEFT))

    def py(self, y: float) -> int:
        return self.bottom - round(min(y, self.y_max) / self.y_max * (self.bottom - self.top))

    def series(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        color: Color,
        width: int = 2,
        max_gap: float = math.inf,
    ) -> None:
        """A line through the points, broken where x jumps by more than `max_gap`: a
        stretch without data shows as a gap, not as a bridge. Lone points show as dots."""
        pts = [(x, self.px(x), self.py(y)) for x, y in zip(xs, ys, strict=True)]
        for i, (x, px, py) in enumerate(pts):
            near_prev = i > 0 and x - pts[i - 1][0] <= max_gap
            near_next = i + 1 < len(pts) and pts[i + 1][0] - x <= max_gap
            if near_prev:
                self.c.line(pts[i - 1][1], pts[i - 1][2], px, py, color, width)
            if not (near_prev or near_next):
                self.c.rect(px - 1, py - 1, px + 1, py + 1, color)


def chart(
    received_at: Sequence[float], latency_ms: Sequence[float], start: float, title: str
) -> Canvas:
    """The two panels for deliveries received at `received_at` (seconds, same clock as
    `start`) with their latencies."""
    c = Canvas(WIDTH, HEIGHT)
    c.text(LEFT, 12, title, INK, scale=2)
    span = max((t - start for t in received_at), default=1.0)
    width_s = max(0.1, span / 120)
    bins: list[list[float]] = [[] for _ in range(int(span / width_s) + 1)]
    for t, ms in zip(received_at, latency_ms, strict=True):
        bins[min(len(bins) - 1, int((t - start) / width_s))].append(ms)
    xs = [(i + 0.5) * width_s for i, b in enumerate(bins) if b]
    p50 = [percentile(sorted(b), 50) for b in bins if b]
    p99 = [percentile(sorted(b), 99) for b in bins if b]
    top = [max(b) for b in bins if b]
    rate_xs = [(i + 0.5) * width_s for i in range(len(bins))]
    rates = [len(b) / width_s for b in bins]

    lat = Panel(c, 70, 300, span, max(p99, default=1.0) * 1.1, "DELIVERY LATENCY (MS)")
    gap = width_s * 1.5
    lat.series(xs, top, MAX, 1, gap)
    lat.series(xs, p99, P99, 2, gap)
    lat.series(xs, p50, P50, 2, gap)
    x = WIDTH - RIGHT - 200
    for name, color in (("P50", P50), ("P99", P99), ("MAX", MAX)):
        c.rect(x, 56, x + 10, 62, color)
        x = c.text(x + 14, 56, name, INK) + 14

    thr = Panel(c, 360, 520, span, max(rates, default=1.0) * 1.1, "DELIVERIES PER SECOND")
    thr.series(rate_xs, rates, RATE)
    s = "SECONDS SINCE THE FIRST SEND"
    c.text((WIDTH - text_width(s)) // 2, HEIGHT - 22, s, INK)
    return c


def draw(run: LoadRun, path: Path) -> None:
    cfg = run.cfg
    title = f"WSCHAT LOAD: {cfg.connections} CONN, {cfg.rooms} ROOMS, {cfg.rate:g} MSG/S"
    chart(run.tally.received_at, run.tally.latency_ms, run.t.send_start, title).save(path)
