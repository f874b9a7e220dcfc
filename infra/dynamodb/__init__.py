"""The local stand-in for DynamoDB (and SSM Parameter Store): moto's server in its own
process (`server`), behind a keep-alive HTTP server (`wsgi_server`) with moto's costs
trimmed (`moto_speedups`), and the tables a service declares (`provision`)."""

from infra.dynamodb.provision import create_tables, dynamodb_client, provision
from infra.dynamodb.server import MotoServer, start_moto

__all__ = ["MotoServer", "create_tables", "dynamodb_client", "provision", "start_moto"]
