"""A short soak under faults, in `make test`: bench/soak.py's `run_soak` against the real
service behind the local gateway, for a few seconds.

60 connections in 5 rooms send messages while the gateway answers 5% of Management API
POSTs with 410 (dropping that client) and delays each call a few milliseconds, clients
are killed without a close frame, and stale memberships ("ghosts" whose $disconnect never
ran) are written straight into DynamoDB. Then: no message owed to a live member is lost
or duplicated, every stale connection is gone after the next fan-out into its room, the
handlers never failed, and the service still serves new clients. The long, documented
run is `python -m bench.soak`.
"""

from __future__ import annotations

import asyncio

from bench.soak import SoakConfig, run_soak
from infra.apigateway.core import Faults
from infra.dynamodb import MotoServer
from tests.conftest import scaled
from tests.tokens import chat_secret
from tests.wire import logs_of, open_peer, start_stack, unique


async def test_short_soak_under_faults_loses_nothing_and_leaves_nothing_stale(
    moto_server: MotoServer,
) -> None:
    async with start_stack(moto=moto_server, gone_rate=0.05, mgmt_latency_ms=3, seed=5) as stack:
        config = SoakConfig(
            url=stack.ws_url,
            secret=chat_secret(stack),
            dynamodb_endpoint=stack.dynamodb_endpoint,
            stage=stack.stage,
            region=stack.spec.region,
            connections=60,
            rooms=5,
            duration_s=3,
            rate=12,  # what two sandboxes per function keep up with on a 2-core CI box
            kill_every_s=0.2,
            ghost_every_s=0.5,
            sample_every_s=3600,  # memory is the long soak's business
            open_timeout_s=scaled(30),
            settle_s=scaled(20),
            seed=5,
        )
        result = await run_soak(config)
        summary = result.summary()

        # The faults really happened, so the checks below mean something.
        assert result.killed > 0 and result.dropped > 0 and result.ghosts > 0, summary
        assert result.acked > 20 and result.expected > 100, summary
        # Nothing owed to a live member was lost, doubled or sent to the wrong room...
        assert (result.lost, result.duplicates, result.misrouted) == (0, 0, 0), summary
        # ...and no membership of a closed or invented connection survived a sweep.
        assert (result.stale, result.stale_ghosts) == (0, 0), summary
        assert result.errors.get("internal", 0) == 0, summary
        assert logs_of(stack).failures() == []

        # Still healthy once the faults stop: new clients meet, talk and see each other.
        stack.gateway.core.faults = Faults()
        room = unique("after-soak")
        alice = await open_peer(stack, unique("alice"))
        bob = await open_peer(stack, unique("bob"))
        await alice.call("join", room=room)
        await bob.call("join", room=room)
        sent = await alice.call("send", room=room, text="still there?")
        assert (await bob.expect("message", room=room))["id"] == sent["id"]
        members = await bob.call("members", room=room)
        assert {m["id"] for m in members["members"]} == {alice.user, bob.user}
        await asyncio.gather(alice.close(), bob.close())
