"""The PNG the load tester draws without any plotting library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from client.loadtest.plot import P50, P99, RATE, Panel, chart, nice_step
from client.loadtest.png import Canvas


def decode(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and RGB rows of an unfiltered 8-bit RGB PNG (what Canvas writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, dict[bytes, bytes]()
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks[kind] = chunks.get(kind, b"") + data
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + 3 * width)
    return width, height, raw


def test_canvas_writes_a_valid_png_with_its_pixels(tmp_path: Path) -> None:
    c = Canvas(4, 3)
    c.set(1, 2, (255, 0, 0))
    c.save(tmp_path / "x.png")
    width, height, raw = decode((tmp_path / "x.png").read_bytes())
    assert (width, height) == (4, 3)
    row = raw[2 * 13 : 3 * 13]
    assert row[0] == 0 and row[1 + 3 : 1 + 6] == b"\xff\x00\x00"


def test_text_is_drawn_in_ink() -> None:
    c = Canvas(40, 10)
    c.text(0, 0, "P99", (0, 0, 0))
    inked = sum(1 for x in range(40) for y in range(10) if c.get(x, y) == (0, 0, 0))
    assert inked > 20


def test_chart_draws_every_series() -> None:
    start = 100.0
    received = [start + i / 100 for i in range(300)]
    latency = [5.0 + (i % 10) for i in range(300)]
    c = chart(received, latency, start, "TEST")
    colors = {c.get(x, y) for x in range(c.width) for y in range(c.height)}
    assert {P50, P99, RATE} <= colors


def test_axis_steps_are_round_numbers() -> None:
    assert nice_step(9.0) == 2.0
    assert nice_step(430.0) == 100.0
    assert nice_step(0.0) == 1.0


def test_a_stretch_without_deliveries_is_a_gap_not_a_bridge() -> None:
    c = Canvas(400, 200)
    panel = Panel(c, 20, 180, x_max=6.0, y_max=10.0, title="")
    panel.series([0.0, 1.0, 5.0, 6.0], [5.0, 5.0, 5.0, 5.0], P50, 2, max_gap=1.5)
    y = panel.py(5.0)
    assert c.get(panel.px(0.5), y) == P50
    assert c.get(panel.px(5.5), y) == P50
    assert c.get(panel.px(3.0), y) != P50
