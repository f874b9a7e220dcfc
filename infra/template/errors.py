"""The one error every definition reader raises."""

from __future__ import annotations


class ConfigError(ValueError):
    """The definition cannot be loaded faithfully; the message names where and why."""
