"""`python -m client.loadtest --url URL --connections N --rooms R --rate MSGS_PER_S ...`

One process by default (Locust's local runner, headless); `--master` and `--worker` spread
the users over processes and machines, `--web` serves Locust's live web UI. Exit status: 0
when every message reached every member of its room exactly once and every threshold
held, 1 otherwise (the last line says why), 2 for bad arguments.
"""

# Locust patches the standard library for gevent on import: first, before anything
# else opens a socket or imports ssl.
import locust  # noqa: F401, I001

import json
import logging
import sys

from client.loadtest.config import parse


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Locust warns about spawn rates over 100/s per process; WebSocket users that mostly
    # wait take far more (the default --ramp is 200), so that warning is noise here.
    logging.getLogger("locust.runners").addFilter(
        lambda record: "spawn rate is very high" not in record.getMessage()
    )
    from client.loadtest.run import LoadRun, run_worker

    if cfg.web:
        # Locust's web UI re-reads sys.argv with its own parser on every page load (for
        # its extra options), and ours are not its: hand it an empty command line.
        del sys.argv[1:]
    if cfg.mode == "worker":
        return run_worker(cfg)
    if warning := cfg.rate_warning():
        print(f"note: {warning}", file=sys.stderr)
    from client.loadtest.report import results, text, verdict_line

    run = LoadRun(cfg)
    run.setup()
    run.run()
    v = run.tally.verdict()
    r = results(run, v)
    status, last = verdict_line(r, cfg)
    r["verdict"] = last
    if cfg.html_path:
        from locust.html import get_html_report

        html = get_html_report(run.env, show_download_link=False)  # type: ignore[no-untyped-call]
        cfg.html_path.write_text(html)
    run.finish()
    if cfg.json_path:
        cfg.json_path.write_text(json.dumps(r, indent=2) + "\n")
    if cfg.plot_path:
        from client.loadtest.plot import draw  # matplotlib: only when asked for

        title = f"wschat load: {cfg.connections} connections, {cfg.rooms} rooms, {cfg.rate:g} msg/s"
        draw(run.tally.latency, run.tally.latency_max, run.t.start, title, cfg.plot_path)
    print(text(r, cfg))
    print(last, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
