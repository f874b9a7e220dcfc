"""The wschat Locust user: one simulated chat user on one WebSocket connection.

It connects with a token, joins its room and, at its share of `--rate`, picks an action
from the scenario mix: send a message (and wait for its own copy: the ack), read a history
page, churn (leave, think, rejoin) or reconnect (close, reconnect, rejoin and catch up from
history). Each of these is a Locust request (`WS connect`, `WS join`, `WS send`, ...), and
each message delivered to it is one more (`WS deliver`, its latency measured from the
sender's timestamp in the message), so Locust's web UI, CSV and HTML report show delivery
percentiles live. Every delivery also goes to the process's `Recorder`, for the
exactly-once verdict.

The WebSocket client is websocket-client: plain blocking sockets that gevent's monkey
patching turns cooperative, one reader greenlet per connection (see docs/client.md for why
not `websockets`, and bench/loadtest_cost.py for what it costs per delivery).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import gevent
import websocket
from gevent.event import AsyncResult, Event
from locust import User, task

from client import protocol, tls
from client.loadtest.config import LoadConfig
from client.loadtest.cost import metered_messages
from client.loadtest.record import JOINED, JOINING, LEAVING, LEFT, MemberRecord, Recorder
from client.tokens import mint_token

now = time.perf_counter
wall = time.time
STOP_GRACE_S = 1.0  # a user stopped while others send waits for fan-out already under way
ACTION_OF = {"ack": "send", "joined": "join", "left": "leave", "history": "history"}


@dataclass
class Process:
    """What the users of one process share: the run's config (from the master), the
    recorder, and whether the run is still sending."""

    recorder: Recorder
    cfg: LoadConfig | None = None
    run_id: str = ""
    worker_index: int = 0
    worker_count: int = 1
    ready: Event = field(default_factory=Event)  # the config has arrived
    sending: bool = True
    started: int = 0
    sslopt: dict[str, Any] = field(default_factory=dict)

    def configure(self, cfg: LoadConfig, run_id: str, worker_index: int, workers: int) -> None:
        self.cfg, self.run_id = cfg, run_id
        self.worker_index, self.worker_count = worker_index, max(1, workers)
        self.ready.set()

    def room_name(self, i: int) -> str:
        return f"lt-{self.run_id}-{i}"


def ssl_options(ca: Path | None, insecure: bool) -> dict[str, Any]:
    """websocket-client's TLS options for --ca / --insecure (the clients' shared ones)."""
    ctx = tls.client_ssl_context(argparse.Namespace(ca=ca, insecure=insecure))
    return {} if ctx is None else {"context": ctx}


class ReadAhead:
    """The socket under a websocket-client connection, read 64 KB at a time.

    websocket-client reads each frame with a recv of exactly the header's and then the
    payload's size: about nine socket calls per delivery under gevent (measured with
    cProfile, bench/loadtest_cost.py). Handed the socket after the handshake, the library
    gets its exact sizes from this buffer, and one recv serves every frame that arrived
    together. Everything but `recv` is the socket's own.
    """

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock, self._buf, self._pos = sock, memoryview(b""), 0

    def recv(self, n: int) -> bytes:
        if self._pos >= len(self._buf):
            data = self._sock.recv(65536)
            if not data:
                return b""
            self._buf, self._pos = memoryview(data), 0
        end = self._pos + n
        out = self._buf[self._pos : end].tobytes()
        self._pos = end
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Closed(Exception):
    """The connection closed while an answer was awaited."""


class ChatUser(User):
    """A member of one room of the run (`lt-<run>-<i>`), spread evenly over workers."""

    process: ClassVar[Process]

    def wait_time(self) -> float:
        cfg = self.process.cfg
        assert cfg is not None
        if cfg.think_s is not None:
            return random.expovariate(1 / cfg.think_s)
        rate = cfg.action_rate
        # constant throughput: the remainder of this user's period after the action took
        return max(0.0, 1 / rate - (now() - self._act_started)) if rate > 0 else 1.0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.ws: websocket.WebSocket | None = None
        self.reader: gevent.Greenlet | None = None
        self.waiting: dict[str, AsyncResult] = {}
        self.pending: list[Any] | None = None  # the send awaiting its ack
        self.pending_cmid = ""
        self.newest: str | None = None  # the newest message id seen live (the catch-up's start)
        self.opened_at = 0.0
        self.in_room = False
        self.seq = 0
        self._act_started = now()

    # -- Locust's hooks -------------------------------------------------------------

    def on_start(self) -> None:
        p = self.process
        p.ready.wait()
        cfg = p.cfg
        assert cfg is not None
        n = p.started
        p.started += 1
        self.key = f"w{p.worker_index}.{n}"
        # Balanced over rooms, and every room spread over the workers (a plain modulo
        # would give each worker its own rooms whenever the worker count divides them).
        g = n * p.worker_count + p.worker_index
        room = (g + g // cfg.rooms) % cfg.rooms
        self.room_index, self.room = room, p.room_name(room)
        self.rec: MemberRecord = p.recorder.member(self.key, room)
        self.token = cfg.token or mint_token(
            f"lt-{p.run_id}-{self.key}", name=self.key, secret=cfg.secret, ttl_s=3 * 3600
        )
        if not self._connect() or not self._join():
            return
        # Spread the first actions over one period, so a ramp does not send in bursts.
        if cfg.think_s is None and cfg.action_rate > 0:
            gevent.sleep(random.uniform(0, 1 / cfg.action_rate))
        self._act_started = now()

    def on_stop(self) -> None:
        p = self.process
        if self.ws is not None and self.in_room and p.sending:
            # Stopped while others still send: leave first, and let the fan-out of messages
            # acked before the leave reach us, so a ramp-down loses nothing it owed.
            self._leave()
            gevent.sleep(STOP_GRACE_S)
        if self.in_room:
            p.recorder.event(self.rec, LEAVING, wall())
            self.in_room = False
        self._settle_pending()
        self._close()

    @task
    def act(self) -> None:
        self._act_started = now()
        cfg = self.process.cfg
        assert cfg is not None
        if not self.process.sending:
            return
        if self.ws is None or not self.in_room:
            # Dropped by the service (or never in): come back like a real client would.
            self.reconnect()
            return
        action = random.choices(list(cfg.mix), weights=list(cfg.mix.values()))[0]
        getattr(self, action)()

    # -- actions --------------------------------------------------------------------

    def send(self) -> None:
        cfg = self.process.cfg
        assert cfg is not None and self.ws is not None
        self.seq += 1
        cmid = f"{self.key}.{self.seq}"
        at = wall()
        rec = self.process.recorder.sent(self.key, self.seq, self.room_index, at)
        self.pending, self.pending_cmid = rec, cmid
        frame = (
            f'{{"action":"send","room":"{self.room}","clientMsgId":"{cmid}",'
            f'"data":{{"t":{at * 1000:.3f},"pad":"{"x" * cfg.payload}"}}}}'
        )
        self._request("send", lambda: self._ask("ack", frame))

    def history(self) -> None:
        cfg = self.process.cfg
        assert cfg is not None
        frame = protocol.encode(protocol.history(self.room, limit=cfg.history_limit))
        self._request("history", lambda: self._ask("history", frame))
        self.process.recorder.counts["history_items"] += cfg.history_limit + 1

    def churn(self) -> None:
        """Leave the room, think, and join it again."""
        cfg = self.process.cfg
        assert cfg is not None
        self.process.recorder.counts["churn"] += 1
        self._leave()
        pause = cfg.think_s or (1 / cfg.action_rate if cfg.action_rate else 1.0)
        gevent.sleep(random.uniform(0.5, 1.5) * min(pause, 5.0))
        self._join()

    def reconnect(self) -> None:
        """Close, connect again, rejoin and catch up from history what was missed."""
        self._close()
        started = now()
        cfg = self.process.cfg
        catch_up = cfg is not None and "reconnect" in cfg.mix
        if self._connect() and self._join(catch_up=catch_up):
            self._fire("reconnect", started, None)

    # -- the connection -------------------------------------------------------------

    def _connect(self) -> bool:
        p, cfg = self.process, self.process.cfg
        assert cfg is not None
        started = now()
        p.recorder.counts["connect"] += 1
        # One writer per connection (the user's greenlet; the reader only answers the
        # rare ping with a tiny pong), so no locks around reads and writes.
        ws = websocket.WebSocket(skip_utf8_validation=True, sslopt=p.sslopt)
        try:
            url = protocol.with_token(cfg.url, self.token)
            ws.connect(url, timeout=cfg.open_timeout_s)  # type: ignore[no-untyped-call]
        except websocket.WebSocketBadStatusException as exc:
            return self._failed_connect(started, f"http_{exc.status_code}", exc)
        except (websocket.WebSocketTimeoutException, TimeoutError) as exc:
            return self._failed_connect(started, "connect_timeout", exc)
        except (OSError, websocket.WebSocketException) as exc:
            return self._failed_connect(started, "connect_failed", exc)
        ws.settimeout(None)
        ws.sock = ReadAhead(ws.sock)  # type: ignore[assignment]
        self.ws, self.opened_at = ws, now()
        self._fire("connect", started, None)
        self.reader = gevent.spawn(self._read, ws)
        return True

    def _failed_connect(self, started: float, code: str, exc: Exception) -> bool:
        self.process.recorder.errors[code] += 1
        self.process.recorder.counts["connect_failed"] += 1
        self._fire("connect", started, exc)
        return False

    def _join(self, catch_up: bool = False) -> bool:
        rec = self.process.recorder
        rec.event(self.rec, JOINING, wall())
        frame = protocol.encode(protocol.join(self.room))
        joined = self._request("join", lambda: self._ask("joined", frame))
        if joined is None:
            rec.counts["join_failed"] += 1
            return False
        rec.event(self.rec, JOINED, wall())
        rec.counts["joined"] += 1
        self.in_room = True
        if catch_up:
            for m in joined.get("history") or []:
                self._caught_up(m)
            self._request("catch-up", self._catch_up)
        return True

    def _leave(self) -> None:
        rec = self.process.recorder
        rec.event(self.rec, LEAVING, wall())
        self.in_room = False
        frame = protocol.encode(protocol.leave(self.room))
        if self._request("leave", lambda: self._ask("left", frame)) is not None:
            rec.event(self.rec, LEFT, wall())

    def _catch_up(self) -> int:
        """Page forward from a little before the newest message seen live; with nothing
        seen live yet, no catch-up (rather than paging the room's whole history)."""
        after = None if self.newest is None else protocol.catch_up_cursor(self.newest)
        got = 0
        while after is not None:
            frame: dict[str, Any] = {"action": "history", "room": self.room, "after": after}
            frame["limit"] = protocol.HISTORY_PAGE_MAX
            page = self._ask("history", protocol.encode(frame))
            for m in page.get("messages") or []:
                got += self._caught_up(m)
            after = page.get("nextAfter")
        return got

    def _caught_up(self, m: dict[str, Any]) -> int:
        cmid = m.get("clientMsgId")
        if not cmid:
            return 0
        return int(self.process.recorder.received(self.rec, str(m.get("id")), cmid, live=False))

    def _close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is None:
            return
        rec = self.process.recorder
        rec.connection_s += now() - self.opened_at
        rec.counts["disconnect"] += 1
        with contextlib.suppress(OSError, websocket.WebSocketException):
            ws.close(timeout=1)
        if self.reader is not None:
            self.reader.kill(block=False)
        for r in self.waiting.values():
            if not r.ready():
                r.set_exception(Closed("closed by the tester"))

    def _settle_pending(self) -> None:
        if self.pending is not None:
            self.process.recorder.settle(self.pending)
            self.pending = None

    # -- requests and answers ---------------------------------------------------------

    def _write(self, frame: str, action: str) -> None:
        if self.ws is None:
            raise Closed("not connected")
        counts = self.process.recorder.counts
        counts["frames_out"] += 1
        counts["metered_out"] += metered_messages(len(frame))
        counts["action_" + action] += 1  # for the bill: Lambda invocations, DynamoDB units
        try:
            self.ws.send(frame)
        except (OSError, websocket.WebSocketException) as exc:
            raise Closed(str(exc)) from exc

    def _ask(self, answer: str, frame: str) -> dict[str, Any]:
        """Send `frame` and wait for the answer of type `answer` (or its error frame)."""
        cfg = self.process.cfg
        assert cfg is not None
        result = self.waiting[answer] = AsyncResult()
        self._write(frame, ACTION_OF[answer])
        try:
            got: dict[str, Any] = result.get(timeout=cfg.open_timeout_s)
        except gevent.Timeout as exc:
            raise TimeoutError(f"no {answer} within {cfg.open_timeout_s:g} s") from exc
        finally:
            self.waiting.pop(answer, None)
        return got

    def _request(self, name: str, call: Any) -> Any:
        """Run one request-answer exchange and report it to Locust."""
        started = now()
        try:
            out = call()
        except (Closed, TimeoutError, ServiceError) as exc:
            if name == "send":
                self._settle_pending()
            self._fire(name, started, exc)
            return None
        if name == "send":
            self._settle_pending()
        self._fire(name, started, None)
        return out

    def _fire(self, name: str, started: float, exc: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(now() - started) * 1000,
            response_length=0,
            exception=exc,
            context={},
        )

    # -- the reader -----------------------------------------------------------------

    def _read(self, ws: websocket.WebSocket) -> None:
        p = self.process
        rec, member = p.recorder, self.rec
        counts = rec.counts
        fire = self.environment.events.request.fire
        loads = json.loads
        code = 1006
        while True:
            try:
                opcode, data = ws.recv_data()
            except (OSError, websocket.WebSocketException):
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                break
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            counts["frames_in"] += 1
            counts["metered_in"] += metered_messages(len(data))
            f: dict[str, Any] = loads(data)
            kind = f.get("type")
            if kind == "message":
                mid, cmid = f.get("id", ""), f.get("clientMsgId") or ""
                if cmid == self.pending_cmid and self.pending is not None:
                    self.pending[4] = wall()
                    self._answer("ack", f)
                if rec.received(member, mid, cmid):
                    d = f.get("data")
                    sent_ms = d.get("t") if isinstance(d, dict) else None
                    at = wall()
                    latency = at * 1000 - sent_ms if sent_ms is not None else 0.0
                    rec.latency(at, latency)
                    fire(
                        request_type="WS",
                        name="deliver",
                        response_time=latency,
                        response_length=len(data),
                        exception=None,
                        context={},
                    )
                    if protocol.is_message_id(mid) and (self.newest is None or mid > self.newest):
                        self.newest = mid
            elif kind in ("joined", "left", "history"):
                self._answer(kind, f)
            elif kind == "error":
                err = str(f.get("code", "error"))
                rec.errors[err] += 1
                action = f.get("action")
                if action == "send" and self.pending is not None:
                    self.pending[5] = True  # refused: due nowhere
                    self._answer("ack", f, ServiceError(err))
                elif action in ("join", "leave", "history"):
                    answer = {"join": "joined", "leave": "left", "history": "history"}[action]
                    self._answer(answer, f, ServiceError(err))
            elif kind is None and "message" in f:
                # The gateway's own answers: "Forbidden", "Internal server error".
                rec.errors[f"gateway: {f['message']}"] += 1
        if self.ws is ws:  # closed by the service, not by us
            rec.close_codes[str(code)] += 1
            # The user did not leave: what it misses until it is back is owed to it. Its
            # next action reconnects; with `reconnect` in the mix it also catches up from
            # history, without it the missed messages are lost.
            self.in_room = False
            for r in self.waiting.values():
                if not r.ready():
                    r.set_exception(Closed(f"closed by the service ({code})"))

    def _answer(self, kind: str, frame: dict[str, Any], exc: Exception | None = None) -> None:
        r = self.waiting.get(kind)
        if r is not None and not r.ready():
            if exc is None:
                r.set(frame)
            else:
                r.set_exception(exc)


class ServiceError(Exception):
    """The service answered with an error frame."""
