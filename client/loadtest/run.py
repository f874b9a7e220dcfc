"""One load run on Locust: a single process, or a master and its workers.

Every process that runs users records what they saw (`record.Recorder`) and ships it each
second to the tally (`tally.Tally`) — over Locust's custom messages when the tally is on
the master (`wschat_chunk`, worker to master). The master sends the run's settings to its
workers when the test starts (`wschat_config`) and tells them when sending stops
(`wschat_phase`). The stages are a Locust `LoadTestShape`; after the last one the users
stay connected while the last deliveries drain in, then stop, and every worker sends its
final chunk before it reports itself stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import resource
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust import LoadTestShape
from locust.env import Environment
from locust.runners import MasterRunner, Runner
from locust.stats import StatsCSVFileWriter, stats_history

from client.loadtest.config import LoadConfig, Stage
from client.loadtest.record import Recorder
from client.loadtest.tally import Tally
from client.loadtest.user import ChatUser, Process, ssl_options

CHUNK_EVERY_S = 1.0
FINAL_WAIT_S = 15.0  # how long the master waits for workers' final chunks after the stop
CSV_PERCENTILES = [0.5, 0.9, 0.95, 0.99, 0.999, 1.0]
log = logging.getLogger("client.loadtest")


def raise_fd_limit() -> None:
    """Thousands of sockets need more than the usual soft limit of 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Stages(LoadTestShape):
    """The run's stages, then the last stage's users held while deliveries drain."""

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.stages = stages

    def tick(self) -> tuple[int, float]:
        t, elapsed = 0.0, self.get_run_time()  # type: ignore[no-untyped-call]
        for s in self.stages:
            t += s.duration_s
            if elapsed < t:
                return s.users, s.spawn_rate
        last = self.stages[-1]
        return last.users, last.spawn_rate


@dataclass
class Timeline:
    start: float = 0.0  # wall-clock, the run's first user
    ramped: float = 0.0  # every user in (without --stage); else the start
    send_end: float = 0.0
    drained: float = 0.0
    end: float = 0.0
    cpu_start: float = 0.0
    cpu_drained: float = 0.0
    peak_rss_kb: int = 0
    notes: list[str] = field(default_factory=list)


class LoadRun:
    """The master's (or single process's) side: stages, drain, verdict."""

    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.run_id = secrets.token_hex(3)
        self.tally = Tally(cfg.open_timeout_s)
        self.t = Timeline()
        self.env = Environment(user_classes=[ChatUser], shape_class=Stages(cfg.stages))
        self.process: Process | None = None
        self.runner: Runner
        self.csv: StatsCSVFileWriter | None = None
        self.worker_ids: dict[str, str] = {}  # tally's worker name -> Locust's client id

    # -- setting up -----------------------------------------------------------------

    def setup(self) -> None:
        cfg, env = self.cfg, self.env
        raise_fd_limit()
        if cfg.mode == "master":
            self.runner = env.create_master_runner(cfg.master_bind_host, cfg.master_port)
        else:
            self.runner = env.create_local_runner()
            self.process = attach_process(env, "w0", cfg)
        self.runner.register_message("wschat_chunk", self._on_chunk)
        env.events.test_start.add_listener(self._on_test_start)  # type: ignore[no-untyped-call]
        if cfg.csv_prefix:
            self.csv = StatsCSVFileWriter(env, CSV_PERCENTILES, cfg.csv_prefix, full_history=True)
            gevent.spawn(self.csv.stats_writer)
        if cfg.web:
            host, _, port = cfg.web.rpartition(":")
            env.create_web_ui(host or "127.0.0.1", int(port), stats_csv_writer=self.csv)
            print(f"Locust's web UI: http://{host or '127.0.0.1'}:{port}/", file=sys.stderr)
        gevent.spawn(stats_history, self.runner)

    def _on_chunk(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.tally.add(msg.data)

    def _on_test_start(self, environment: Environment, **_: Any) -> None:
        settings = shared_settings(self.cfg)
        if isinstance(self.runner, MasterRunner):
            workers = self.runner.clients.ready + self.runner.clients.running
            settings |= {"run_id": self.run_id, "workers": len(workers)}
            for i, w in enumerate(sorted(workers, key=lambda w: w.id)):
                self.worker_ids[f"w{i}"] = w.id
                self.runner.send_message("wschat_config", settings | {"index": i}, w.id)
        elif self.process is not None:
            self.process.configure(self.cfg, self.run_id, 0, 1)

    # -- the run --------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.cfg
        if isinstance(self.runner, MasterRunner):
            self._wait_for_workers()
        self.t.start = time.time()
        self.t.cpu_start = time.process_time()
        self.runner.start_shape()
        progress = gevent.spawn(self._progress) if cfg.progress else None
        try:
            if cfg.after_ramp:
                self._wait_for_ramp()
            self.t.ramped = time.time()
            gevent.sleep(cfg.duration_s)
            self.t.send_end = time.time()
            self.runner.send_message("wschat_phase", {"sending": False})
            self._drain()
        except KeyboardInterrupt:
            print("\ninterrupted; results so far:", file=sys.stderr)
            self.t.notes.append("interrupted")
        finally:
            self.t.drained = time.time()
            self.t.cpu_drained = time.process_time()
            if progress is not None:
                progress.kill()
                print(file=sys.stderr)
            self.runner.stop()
            self._wait_for_finals()
            self.t.end = time.time()
            self.t.peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def finish(self) -> None:
        if self.csv is not None:
            self.csv.close_files()
        self.runner.quit()

    def _wait_for_workers(self) -> None:
        assert isinstance(self.runner, MasterRunner)
        want = self.cfg.expect_workers
        print(f"waiting for {want} worker(s) on port {self.cfg.master_port}", file=sys.stderr)
        while len(self.runner.clients.ready) < want:
            gevent.sleep(0.1)

    def _wait_for_ramp(self) -> None:
        """Until every user has joined its room or given up (connect or join failed)."""
        cfg, tally = self.cfg, self.tally
        deadline = time.time() + cfg.connections / cfg.stages[0].spawn_rate
        deadline += 2 * cfg.open_timeout_s + 2 * CHUNK_EVERY_S
        while time.time() < deadline:
            settled = sum(tally.total(k) for k in ("joined", "join_failed", "connect_failed"))
            if settled >= cfg.connections:
                return
            gevent.sleep(0.2)
        self.t.notes.append("not every user had joined when sending time started")

    def _drain(self) -> None:
        """Wait until every delivery owed has arrived (or the drain time is up)."""
        deadline = time.time() + self.cfg.drain_s
        gevent.sleep(2 * CHUNK_EVERY_S + 0.2)  # the last sends' chunks
        checked, pause = -1, 0.5
        while time.time() < deadline:
            if self.tally.changes != checked:
                checked = self.tally.changes
                started = time.monotonic()
                if self.tally.outstanding(self._gone_workers()) == 0:
                    return
                # A count over millions of deliveries takes seconds: keep the master's
                # greenlets (heartbeats, chunks) mostly free while it waits.
                pause = max(0.5, 4 * (time.monotonic() - started))
            gevent.sleep(pause)

    def _wait_for_finals(self) -> None:
        """Every worker that is still alive sends its final chunk when it stops."""
        deadline = time.time() + FINAL_WAIT_S
        while time.time() < deadline:
            alive = self._alive_workers()
            if alive <= self.tally.finished:
                return
            gevent.sleep(0.1)

    def _alive_workers(self) -> set[str]:
        # A worker that went missing (killed) never sends its final chunk: the tally
        # counts its members' missed deliveries as lost.
        return self.tally.workers - self._gone_workers()

    def _gone_workers(self) -> set[str]:
        """Workers Locust lost (no heartbeat for 3 s, or removed)."""
        if not isinstance(self.runner, MasterRunner):
            return set()
        clients = self.runner.clients
        return {
            name
            for name, cid in self.worker_ids.items()
            if cid not in clients or clients[cid].state == "missing"
        }

    def _progress(self) -> None:
        tty = sys.stderr.isatty()
        while True:
            gevent.sleep(1.0 if tty else 5.0)
            print(self.progress_line(), end="\r" if tty else "\n", file=sys.stderr, flush=True)

    def progress_line(self) -> str:
        stats = self.env.stats
        deliver, send = stats.get("deliver", "WS"), stats.get("send", "WS")
        p50 = deliver.get_current_response_time_percentile(0.5) or 0
        p99 = deliver.get_current_response_time_percentile(0.99) or 0
        return (
            f"{time.time() - self.t.start:6.0f} s  users {self.runner.user_count}  "
            f"sent {send.num_requests}  delivered {deliver.num_requests}  "
            f"delivery p50 {p50:.0f} ms p99 {p99:.0f} ms  failures {stats.total.num_failures}   "
        )


# -- every process with users (a worker, or the single process) ------------------------


def shared_settings(cfg: LoadConfig) -> dict[str, Any]:
    """What a worker takes from the master (its own --token/--secret/--ca win)."""
    return {
        "url": cfg.url,
        "connections": cfg.connections,
        "rooms": cfg.rooms,
        "rate": cfg.rate,
        "payload": cfg.payload,
        "token": cfg.token,
        "secret": cfg.secret,
        "open_timeout_s": cfg.open_timeout_s,
        "mix": cfg.mix,
        "think_s": cfg.think_s,
        "history_limit": cfg.history_limit,
    }


def attach_process(env: Environment, worker: str, cfg: LoadConfig, say: bool = False) -> Process:
    """The users' shared state in this process, and the greenlet that ships its chunks."""
    process = Process(Recorder(worker), sslopt=ssl_options(cfg.ca, cfg.insecure))
    ChatUser.process = process
    runner = env.runner
    assert runner is not None

    def ship() -> None:
        said = not say
        while True:
            gevent.sleep(CHUNK_EVERY_S)
            if process.ready.is_set():
                joined = process.recorder.counts["joined"]
                runner.send_message("wschat_chunk", process.recorder.chunk())
                if not said and joined:
                    said = True
                    rec = process.recorder
                    print(
                        f"worker {rec.worker}: reporting to the master "
                        f"({joined} members joined so far)",
                        file=sys.stderr,
                    )

    def on_phase(environment: Environment, msg: Any, **_: Any) -> None:
        process.sending = bool(msg.data["sending"])

    def on_stop(environment: Environment, **_: Any) -> None:
        if process.ready.is_set():
            runner.send_message("wschat_chunk", process.recorder.chunk(final=True))

    runner.register_message("wschat_phase", on_phase)
    env.events.test_stop.add_listener(on_stop)  # type: ignore[no-untyped-call]
    gevent.spawn(ship)
    return process


def run_worker(cfg: LoadConfig) -> int:
    """A worker: users as the master says, records shipped to it; ends when it quits."""
    raise_fd_limit()
    env = Environment(user_classes=[ChatUser])
    runner = env.create_worker_runner(cfg.master_host, cfg.master_port)
    process = attach_process(env, "", cfg, say=True)
    own = {k: v for k, v in (("token", cfg.token), ("secret", cfg.secret)) if v}

    def on_config(environment: Environment, msg: Any, **_: Any) -> None:
        data = dict(msg.data)
        index, workers, run_id = data.pop("index"), data.pop("workers"), data.pop("run_id")
        process.recorder.worker = f"w{index}"
        process.sending = True
        merged = dataclasses.replace(cfg, **(data | own))
        process.configure(merged, run_id, index, workers)

    runner.register_message("wschat_config", on_config)
    runner.greenlet.join()
    rec = process.recorder
    print(
        f"worker {rec.worker}: {len(rec.members)} members saw {rec.seen_total()} messages "
        f"({sum(m.duplicates for m in rec.members.values())} duplicates); peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB",
        flush=True,
    )
    return 0
