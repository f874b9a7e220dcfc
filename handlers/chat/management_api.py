"""The Management API's `POST @connections/{id}`, without a boto3 client.

boto3 spends ~0.5 ms of CPU on each `post_to_connection`, most of it outside the network
(its event hooks, parameter handling, endpoint rules, parsing); a fan-out is thousands
of them. This sender keeps what a user relies on from boto3 by calling botocore's own
parts, and leaves the rest out:

- credentials: botocore's provider chain (environment, container, profile), frozen once
  per batch from the refreshable set, so a rotation by the runtime is picked up;
- signing: botocore's `SigV4Auth` on an `AWSRequest`, as boto3 signs this service;
- endpoint: what boto3 would configure (`AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`,
  `AWS_ENDPOINT_URL`, the config file), else the caller's `https://{domainName}/{stage}`;
- retries: the handler botocore registers on a client in standard mode (429, 5xx and
  connection errors, jittered exponential backoff, the retry quota), called directly;
- errors: botocore's rest-json parser reads the error code (`x-amzn-ErrorType`, then the
  body), so `GoneException` and the others mean what they meant through boto3;
- TLS: `AWS_CA_BUNDLE` (or the config's `ca_bundle`), else botocore's bundle; proxies
  from the environment; connect and read timeouts.

The HTTP is aiohttp's: the POSTs of a batch are in flight together, up to `concurrency`
at a time over keep-alive connections, on an event loop that the calling thread runs
itself (callers stay synchronous, as Lambda handlers are). Measured against urllib3 in
threads, the other candidate (`python -m bench.mgmt_sender`, docs/benchmarks.md), it
costs about two thirds of the CPU per delivery. aiohttp is imported at the first batch,
not at cold start: functions that never deliver do not pay for it.
"""

from __future__ import annotations

import asyncio
import atexit
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse, HeadersDict, HTTPHeaders
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import get_cert_path
from botocore.model import ServiceId
from botocore.parsers import create_parser
from botocore.retries.standard import register_retry_handler
from botocore.utils import get_environ_proxies, percent_encode

if TYPE_CHECKING:
    import aiohttp
    import yarl

CLIENT_NAME = "apigatewaymanagementapi"  # boto3.client(...)'s name, and the env suffix
SERVICE_ID = "ApiGatewayManagementApi"
SIGNING_NAME = "execute-api"
OPERATION = "PostToConnection"
GONE = "GoneException"
NOT_STARTED = "NotStarted"  # the caller's time was up before the first attempt

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Posted:
    """What became of one POST: `error` is None when delivered, else the AWS error code
    (`GoneException`, `PayloadTooLargeException`, `LimitExceededException` after its
    retries, ...), the botocore exception name of a network failure, or `NOT_STARTED`."""

    connection_id: str
    error: str | None = None
    status: int | None = None  # HTTP status of the last attempt
    attempts: int = 0


def configured_endpoint(session: botocore.session.Session | None = None) -> str | None:
    """The endpoint boto3 would give an apigatewaymanagementapi client on its own: the
    service's variable, the global one, the config file; None when nothing is set."""
    session = session or default_session()
    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    provider = ConfiguredEndpointProvider(
        full_config=session.full_config,
        scoped_config=session.get_scoped_config(),
        client_name=CLIENT_NAME,
    )
    url: str | None = provider.provide()
    return url


_session: botocore.session.Session | None = None
_session_lock = threading.Lock()


def default_session() -> botocore.session.Session:
    """One botocore session per container: its credential and config lookups are cached."""
    global _session
    with _session_lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session


class _RetryHooks:
    """Stands in for a client's event emitter while botocore's `register_retry_handler`
    builds the standard-mode handler, so that this sender calls that very handler (and
    its retry quota), whatever the installed botocore's version of it is."""

    def __init__(self) -> None:
        self.after_call: list[Callable[..., Any]] = []

    def register(self, event_name: str, handler: Callable[..., Any], *_: Any, **__: Any) -> None:
        if event_name.startswith("after-call."):
            self.after_call.append(handler)  # the quota's release on a 2xx


@dataclass(frozen=True)
class _Http:
    """aiohttp's session on one thread's loop, created there at that thread's first batch."""

    session: aiohttp.ClientSession
    timeout: aiohttp.ClientTimeout
    url: type[yarl.URL]
    errors: tuple[type[BaseException], ...]  # what a POST raises when it fails


class ManagementApi:
    """Posts to connections of one Management API endpoint (thread-safe)."""

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        concurrency: int = 32,
        attempts: int = 3,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        session: botocore.session.Session | None = None,
    ) -> None:
        session = session or default_session()
        url = configured_endpoint(session) or endpoint
        if not url:
            raise ValueError("no Management API endpoint configured or given")
        self.endpoint = url.rstrip("/")
        region = session.get_config_variable("region")
        if not region:
            raise NoRegionError()
        self._region: str = region
        credentials = session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        self._credentials = credentials
        self.concurrency = concurrency
        self._timeouts = (connect_timeout, read_timeout)
        self._cafile: str | None = get_cert_path(session.get_config_variable("ca_bundle") or True)
        scheme = urlsplit(self.endpoint).scheme
        self._proxy: str | None = get_environ_proxies(self.endpoint).get(scheme)
        hooks = _RetryHooks()
        client: Any = SimpleNamespace(
            meta=SimpleNamespace(
                service_model=SimpleNamespace(service_id=ServiceId(SERVICE_ID)), events=hooks
            )
        )
        self._retry = register_retry_handler(client, max_attempts=attempts)
        self._after_call = tuple(hooks.after_call)
        # The operation's model, as the retry checkers and the error parser see it in boto3.
        self._operation = session.get_service_model(CLIENT_NAME).operation_model(OPERATION)
        self._parser = create_parser("rest-json")
        self._local = threading.local()  # each thread's loop has its own session

    # -- the synchronous face ---------------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> Posted:
        return self.post_many([connection_id], data)[0]

    def post_many(
        self,
        connection_ids: Iterable[str],
        data: bytes,
        *,
        concurrency: int | None = None,
        time_left: Callable[[], float] | None = None,
    ) -> list[Posted]:
        """POST `data` to each connection, `concurrency` at a time; one outcome per id,
        in order. `time_left()`: the seconds in which a POST may still start (None: no
        limit), asked before every attempt; a retry whose backoff would end past it is
        not waited for."""
        ids = list(connection_ids)
        if not ids:
            return []
        width = min(concurrency or self.concurrency, self.concurrency, len(ids))
        # Frozen once per batch, outside the loop: a refresh may block on the network.
        signer = SigV4Auth(self._credentials.get_frozen_credentials(), SIGNING_NAME, self._region)
        return _run(self._batch(ids, data, width, signer, time_left))

    def close(self) -> None:
        """Close the calling thread's connections (others close at exit)."""
        http: _Http | None = getattr(self._local, "http", None)
        if http is not None:
            del self._local.http
            _run(http.session.close())

    # -- on the loop --------------------------------------------------------------------

    async def _batch(
        self,
        ids: list[str],
        data: bytes,
        width: int,
        signer: SigV4Auth,
        time_left: Callable[[], float] | None,
    ) -> list[Posted]:
        http: _Http = getattr(self._local, "http", None) or self._open()

        async def post(conn_id: str) -> Posted:
            try:
                return await self._post_one(http, signer, conn_id, data, time_left)
            except Exception as exc:  # a bug here must not stop the other recipients
                return Posted(conn_id, type(exc).__name__)

        if len(ids) == 1:  # the common single delivery: no task
            return [await post(ids[0])]
        results: list[Posted | None] = [None] * len(ids)
        todo = iter(enumerate(ids))

        async def worker() -> None:
            for i, conn_id in todo:
                results[i] = await post(conn_id)

        await asyncio.gather(*(worker() for _ in range(width)))
        return [r for r in results if r is not None]

    def _open(self) -> _Http:
        import aiohttp
        import yarl

        connect, read = self._timeouts
        ssl_context = ssl.create_default_context(cafile=self._cafile)
        connector = aiohttp.TCPConnector(
            limit=self.concurrency, ssl=ssl_context, keepalive_timeout=30
        )
        # `connect` covers the pool wait too, which never happens: no more than
        # `concurrency` requests are in flight, the connector's limit.
        timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)
        session = aiohttp.ClientSession(connector=connector)
        http = self._local.http = _Http(
            session, timeout, yarl.URL, (aiohttp.ClientError, TimeoutError)
        )
        _register(session)
        return http

    async def _post_one(
        self,
        http: _Http,
        signer: SigV4Auth,
        conn_id: str,
        data: bytes,
        time_left: Callable[[], float] | None,
    ) -> Posted:
        url = f"{self.endpoint}/@connections/{percent_encode(conn_id)}"
        target = http.url(url, encoded=True)  # sent exactly as signed: no re-quoting
        context: dict[str, Any] = {}  # the retry handler's per-request state
        error: str | None = NOT_STARTED
        status: int | None = None
        attempt = 0
        while time_left is None or time_left() > 0:
            attempt += 1
            request = AWSRequest(method="POST", url=url, data=data)
            signer.add_auth(request)
            caught: BotoCoreError | None = None
            response: tuple[AWSResponse, dict[str, Any]] | None = None
            try:
                async with http.session.post(
                    target,
                    data=data,
                    headers=dict(request.headers.items()),
                    timeout=http.timeout,
                    proxy=self._proxy,
                    allow_redirects=False,
                ) as resp:
                    body = await resp.read()
                    status = resp.status
                    if 200 <= status < 300:
                        for release in self._after_call:
                            release(context=context, http_response=_OK)
                        return Posted(conn_id, None, status, attempt)
                    response = self._parse_error(url, status, resp.headers, body)
                    error = response[1]["Error"]["Code"]
            except http.errors as exc:
                caught = _as_botocore(exc, url)
                error, status = type(caught).__name__, None
            delay = self._retry.needs_retry(
                response=response,
                attempts=attempt,
                operation=self._operation,
                caught_exception=caught,
                request_dict={"context": context},
            )
            if delay is None or (time_left is not None and time_left() <= delay):
                break
            await asyncio.sleep(delay)
        return Posted(conn_id, error, status, attempt)

    def _parse_error(
        self, url: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> tuple[AWSResponse, dict[str, Any]]:
        """The response as botocore's retry handler sees it, and boto3's parsed error."""
        header_dict = HeadersDict(headers)
        parsed = self._parser.parse(
            {"status_code": status, "headers": header_dict, "body": body},
            self._operation.output_shape,  # type: ignore[arg-type]  # None: no output shape
        )
        return AWSResponse(url, status, HTTPHeaders.from_dict(header_dict), None), parsed


# The retry quota's release reads only the status of a successful response.
_OK = AWSResponse("", 200, HTTPHeaders(), None)


def _as_botocore(exc: BaseException, url: str) -> BotoCoreError:
    """aiohttp's failure as the botocore exception boto3 would have raised, which is what
    decides retrying (connection errors and timeouts are retried, as in boto3)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientSSLError):
        return SSLError(endpoint_url=url, error=exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return EndpointConnectionError(endpoint_url=url, error=exc)
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors
        connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", ())
        if isinstance(exc, connect_timeout):
            return ConnectTimeoutError(endpoint_url=url, error=exc)
        return ReadTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        return ConnectionClosedError(endpoint_url=url, error=exc)
    return HTTPClientError(error=exc)


class _ThreadLoop(threading.local):
    loop: asyncio.AbstractEventLoop | None = None


_thread_loop = _ThreadLoop()
# Every session opened, with its loop: closed at exit, so aiohttp finds none left open.
_opened: list[tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = []
_opened_lock = threading.Lock()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the calling thread's own loop (kept for the thread's next call, with
    its sessions' keep-alive connections): a Lambda handler's thread waits in epoll
    itself, with no hand-off to another thread (measured: ~60 us per call less)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError("ManagementApi blocks: call it from a thread with no running loop")
    loop = _thread_loop.loop
    if loop is None:
        loop = _thread_loop.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)


def _register(session: aiohttp.ClientSession) -> None:
    with _opened_lock:
        if not _opened:
            atexit.register(_close_all)
        _opened.append((asyncio.get_running_loop(), session))


def _close_all() -> None:
    with _opened_lock:
        opened = _opened[:]
        _opened.clear()
    for loop, session in opened:
        if not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(session.close())
