"""The local stand-in for AWS: API Gateway's WebSocket + HTTP APIs and the embedded DynamoDB."""
