"""A local stand-in for Amazon API Gateway (WebSocket API, HTTP and REST API routes,
@connections).

`core.GatewayCore` and `http_api.HttpApiCore` are the sans-I/O state machines;
`server.GatewayServer` runs them on asyncio sockets. See docs/gateway.md for what it
reproduces and where it differs.
"""

from infra.apigateway.server import GatewayOptions, GatewayServer

__all__ = ["GatewayOptions", "GatewayServer"]
