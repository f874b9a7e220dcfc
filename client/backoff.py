"""Reconnect delays: exponential backoff with jitter, so a restarted service is not stampeded."""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        first_s: float = 0.5,
        max_s: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.first_s, self.max_s, self.factor, self.jitter = first_s, max_s, factor, jitter
        self.rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt: first_s, then times factor, capped, +/- jitter."""
        base = min(self.max_s, self.first_s * self.factor**self.attempt)
        self.attempt += 1
        return base * (1 + self.rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempt = 0
