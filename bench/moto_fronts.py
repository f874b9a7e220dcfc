"""moto's server behind other front ends than `make run`'s, for `bench.dynamo_front` and
the test that compares answers: `python -m bench.moto_fronts HOST flask|werkzeug`.

- flask: our keep-alive server (infra.dynamodb.wsgi_server), every call through moto's
  Flask app (no direct DynamoDB dispatch);
- werkzeug: werkzeug's development server and moto's Flask app, as moto ships them.

Started with `infra.dynamodb.start_moto(module="bench.moto_fronts", args=[mode])`.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

from infra.dynamodb.server import exit_with_parent, moto_app, serve

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

MODULE = "bench.moto_fronts"


def serve_werkzeug(host: str) -> None:
    from werkzeug.serving import make_server

    app = moto_app()
    exit_with_parent()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    lock = threading.Lock()

    # moto's backends are not thread-safe (see infra.dynamodb.server.main).
    def one_at_a_time(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        with lock:
            return list(app(environ, start_response))

    server = make_server(host, 0, one_at_a_time, threaded=True)
    print(server.port, flush=True)
    server.serve_forever()


def main(argv: list[str]) -> int:
    host, mode = argv[0], argv[1]
    if mode == "werkzeug":
        serve_werkzeug(host)
    elif mode == "flask":
        serve(moto_app(), host)
    else:
        print(f"unknown front end {mode!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
