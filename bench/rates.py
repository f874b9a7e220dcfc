"""Command-line values the load benches share."""

from __future__ import annotations

import argparse


def rate_ladder(text: str) -> list[float]:
    """`--ladder 25,50,75`: the steps of a capacity ladder, msg/s, positive and increasing."""
    try:
        rates = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("comma-separated msg/s, e.g. 25,50,75") from None
    if not rates or any(x <= 0 for x in rates) or rates != sorted(set(rates)):
        raise argparse.ArgumentTypeError("msg/s must be positive and increasing")
    return rates
