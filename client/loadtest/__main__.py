"""`python -m client.loadtest --url URL --connections N --rooms R --rate MSGS_PER_S --duration S`.

Exit status: 0 when every message reached every member of its room exactly once, 1 when
anything was lost, duplicated or misrouted (or nothing connected), 2 for bad arguments.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from client.loadtest.config import parse
from client.loadtest.plot import draw
from client.loadtest.report import results, text
from client.loadtest.run import LoadRun


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    if warning := cfg.rate_warning():
        print(f"note: {warning}", file=sys.stderr)
    run = LoadRun(cfg)
    cpu0 = time.process_time()
    try:
        asyncio.run(run.run())
    except KeyboardInterrupt:
        print("\ninterrupted; results so far:", file=sys.stderr)
    r = results(run, time.process_time() - cpu0)
    print(text(r, cfg))
    if cfg.json_path:
        cfg.json_path.write_text(json.dumps(r, indent=2) + "\n")
    if cfg.plot_path:
        draw(run, cfg.plot_path)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
