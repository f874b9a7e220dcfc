"""Route selection: which route key a text message goes to.

API Gateway evaluates the route selection expression (``$request.body.action`` or the
``${request.body.action}`` form) against the JSON body. Only a text frame holding a JSON
object can match; an absent path is no match; a non-string value is stringified the way
JSON writes it (``1``, ``true``, ``{"a":1}``). A body too deeply nested to parse (a
10,000-deep array) is no match either: it goes to `$default`, as any body that is not
JSON does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_EXPR_RE = re.compile(r"^\$\{?request\.body\.([A-Za-z0-9_$.-]+?)\}?$")


class RouteSelector:
    """Evaluates one route selection expression against message bodies."""

    def __init__(self, expression: str) -> None:
        match = _EXPR_RE.match(expression.strip())
        if match is None:
            raise ValueError(f"unsupported route selection expression: {expression!r}")
        braced = expression.strip().startswith("${")
        if braced != expression.strip().endswith("}"):
            raise ValueError(f"unbalanced route selection expression: {expression!r}")
        self.path: tuple[str, ...] = tuple(match.group(1).split("."))

    def select(self, body: str) -> str | None:
        """The route key the body selects, or None (then `$default` applies)."""
        try:
            value: Any = json.loads(body)
            for part in self.path:
                if not isinstance(value, dict) or part not in value:
                    return None
                value = value[part]
            if isinstance(value, str):
                return value
            return json.dumps(value, separators=(",", ":"))
        except (ValueError, RecursionError):
            return None


def route_for(
    selected: str | None, routes: Mapping[str, Any], *, reserved: tuple[str, ...] = ()
) -> str | None:
    """The route key that handles a message: exact match, else `$default`, else None."""
    if selected is not None and selected in routes and selected not in reserved:
        return selected
    return "$default" if "$default" in routes else None
