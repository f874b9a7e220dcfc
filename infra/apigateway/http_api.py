"""The HTTP API and REST API routes of a service as a sans-I/O state machine.

A request becomes a flow: an optional Lambda authorizer (identity sources first: one
missing is 401 without invoking anything), then the route's function, then the answer
mapped as the route's payload format does. Each step that needs Lambda is an `Invoke`
action; the answer is a `Respond` action. The integration timeout (HTTP API 30 s, REST
API 29 s) is a deadline on the injected clock, applied by `tick`, as in `GatewayCore`.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from infra.apigateway import payload_v1, payload_v2
from infra.apigateway.actions import Action, Invoke, InvokeKind, Respond
from infra.apigateway.authorizers import identity_values, policy_verdict, refusal, simple_verdict
from infra.apigateway.events import ApiInfo
from infra.apigateway.http_routes import HttpRequest, HttpRoutes, Match
from infra.apigateway.ids import new_id
from infra.http import HttpResponse, json_message
from infra.service import Invocation, ServiceSpec

HTTP_API_TIMEOUT_S = 30.0  # HTTP APIs allow 30 s, REST and WebSocket APIs 29 s
REST_API_TIMEOUT_S = 29.0
# How an HTTP API words its authorizer refusals.
_REFUSALS = {401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}


@dataclass(frozen=True)
class _Call:
    """One Lambda invocation a flow needs; it resumes with the outcome (None: timed out)."""

    kind: InvokeKind
    function: str
    event: dict[str, Any]
    timeout_s: float


Flow = Generator[_Call, Invocation | None, HttpResponse]


class HttpApiCore:
    """The HTTP API (`httpApi`) and REST API (`http`) routes of one service and stage."""

    def __init__(
        self,
        spec: ServiceSpec,
        api: ApiInfo,
        *,
        clock: Callable[[], float] = time.time,
        http_timeout_s: float = HTTP_API_TIMEOUT_S,
        rest_timeout_s: float = REST_API_TIMEOUT_S,
    ) -> None:
        self.api = api
        self.clock = clock
        self.routes = HttpRoutes(spec.http_routes, spec.stage)
        self._timeouts = {"http": http_timeout_s, "rest": rest_timeout_s}
        self._flows: dict[str, tuple[Flow, Invoke]] = {}  # ref -> flow, its running step
        self._deadlines: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._flows)

    def request(self, request: HttpRequest) -> tuple[str, list[Action]] | None:
        """Start answering `request`: (its ref, actions), the answer arriving as
        `Respond(ref)`; None when no route of the service takes it."""
        match = self.routes.match(request.method, request.path)
        if match is None:
            if self.routes.under_rest_stage(request.path):
                # A REST API answers every unknown resource or method this way.
                ref = new_id()
                return ref, [Respond(ref, json_message(403, "Missing Authentication Token"))]
            return None
        ref = new_id()
        return ref, self._advance(ref, self._flow(request, match), None, first=True)

    def invoked(self, action: Invoke, invocation: Invocation) -> list[Action]:
        """A step's invocation finished (ignored when it timed out first)."""
        running = self._flows.get(action.ref)
        if running is None or running[1] is not action:
            return []
        return self._advance(action.ref, running[0], invocation)

    def tick(self) -> list[Action]:
        """Answer every flow whose step passed its integration timeout."""
        now = self.clock()
        actions: list[Action] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, ref = heapq.heappop(self._deadlines)
            running = self._flows.get(ref)
            if running is not None:
                actions += self._advance(ref, running[0], None)
        return actions

    def next_deadline(self) -> float | None:
        while self._deadlines and self._deadlines[0][1] not in self._flows:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def _advance(
        self, ref: str, flow: Flow, outcome: Invocation | None, *, first: bool = False
    ) -> list[Action]:
        self._flows.pop(ref, None)
        try:
            call = next(flow) if first else flow.send(outcome)
        except StopIteration as done:
            return [Respond(ref, done.value)]
        action = Invoke(ref=ref, kind=call.kind, function=call.function, event=call.event)
        self._flows[ref] = (flow, action)
        heapq.heappush(self._deadlines, (self.clock() + call.timeout_s, ref))
        return [action]

    def _flow(self, request: HttpRequest, match: Match) -> Flow:
        """The steps of one request, as API Gateway takes them."""
        route = match.route
        v1 = route.payload_version == "1.0" or match.rest
        timeout = self._timeouts["rest" if match.rest else "http"]
        context: dict[str, Any] | None = None
        authorizer = route.authorizer
        if authorizer is not None:
            query = parse_qsl(request.query, keep_blank_values=True)
            identity = identity_values(authorizer.identity_sources, request.headers, query)
            if identity is None:
                return json_message(401, "Unauthorized")
            now = self.clock()
            request_id = payload_v1.request_id(match) if v1 else new_id()
            if authorizer.payload_version == "1.0":
                event = payload_v1.authorizer_event(
                    self.api, request, match, identity, request_id=request_id, now_s=now
                )
                arn = event["methodArn"]
            else:
                event = payload_v2.authorizer_event(
                    self.api, request, match, identity, request_id=request_id, now_s=now
                )
                arn = event["routeArn"]
            outcome = yield _Call(InvokeKind.HTTP_AUTHORIZER, authorizer.function, event, timeout)
            if outcome is None:
                outcome = Invocation(ok=False, error_type="Timeout", timed_out=True)
            verdict = (
                simple_verdict(outcome)
                if authorizer.simple_responses
                else policy_verdict(outcome, arn)
            )
            refused = refusal(verdict, _REFUSALS)
            if refused is not None:
                return json_message(*refused)
            context = dict(verdict.context or {})
            if verdict.principal_id is not None:
                context.setdefault("principalId", verdict.principal_id)
        now = self.clock()
        if v1:
            event = payload_v1.request_event(
                self.api,
                request,
                match,
                request_id=payload_v1.request_id(match),
                authorizer_context=context,
                now_s=now,
            )
        else:
            event = payload_v2.request_event(
                self.api, request, match, request_id=new_id(), authorizer_context=context, now_s=now
            )
        outcome = yield _Call(InvokeKind.HTTP_INTEGRATION, route.function, event, timeout)
        if v1:
            return payload_v1.integration_result(outcome, rest=match.rest)
        return payload_v2.integration_result(outcome)
