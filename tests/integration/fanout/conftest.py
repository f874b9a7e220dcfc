"""The fan-out's sender against the real local gateway (the echo service's gateway
fixtures: port 0, fault injection by GatewayOptions)."""

from tests.integration.gateway.conftest import gw, start_gateway

__all__ = ["gw", "start_gateway"]
