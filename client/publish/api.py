"""The publish API client: `POST /rooms/{room}/messages` with a `publish`-scoped token."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from client.tls import certificate_problem


class PublishError(Exception):
    """The service refused the message (or could not be reached: status 0).
    `final`: retrying cannot help (a refused token, an untrusted certificate)."""

    def __init__(self, status: int, detail: str, final: bool = False) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail
        self.final = final or status in (401, 403)


def publish(
    url: str,
    room: str,
    token: str,
    *,
    text: str | None = None,
    data: Any = None,
    timeout_s: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """Publish to `room`; the service's answer, `{"id": ..., "delivered": n, "queued": m}`."""
    body: dict[str, Any] = {}
    if text is not None:
        body["text"] = text
    if data is not None:
        body["data"] = data
    request = urllib.request.Request(
        f"{url.rstrip('/')}/rooms/{room}/messages",
        data=json.dumps(body, separators=(",", ":")).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=ssl_context) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
            return answer
    except urllib.error.HTTPError as exc:
        raise PublishError(exc.code, exc.read().decode(errors="replace").strip()) from None
    except (urllib.error.URLError, OSError) as exc:
        if problem := certificate_problem(exc):
            raise PublishError(0, problem, final=True) from None
        reason = getattr(exc, "reason", exc)
        raise PublishError(0, f"cannot reach {url}: {reason}") from None
