"""A local stand-in for Amazon API Gateway (WebSocket API, HTTP API routes, @connections).

`core.GatewayCore` is the sans-I/O state machine; `server.GatewayServer` runs it on
asyncio sockets. See docs/gateway.md for what it reproduces and where it differs.
"""

from infra.apigateway.server import GatewayOptions, GatewayServer

__all__ = ["GatewayOptions", "GatewayServer"]
