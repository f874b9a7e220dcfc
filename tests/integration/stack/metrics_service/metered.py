"""One EMF line per message: a metric `Messages` and one `Bytes` per message."""

from __future__ import annotations

import json
import time
from typing import Any


def count(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = event.get("body") or ""
    print(
        json.dumps(
            {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "metered",
                            "Dimensions": [["service"]],
                            "Metrics": [
                                {"Name": "Messages", "Unit": "Count"},
                                {"Name": "Bytes", "Unit": "Bytes"},
                            ],
                        }
                    ],
                },
                "service": "metered",
                "Messages": 1,
                "Bytes": len(body),
            }
        )
    )
    return {"statusCode": 200, "body": "counted"}
