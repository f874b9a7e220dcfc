"""Tables and parameters for a service: what `serverless.yml` declares, created on any
DynamoDB endpoint (the embedded moto server, DynamoDB Local, AWS) and its SSM store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ssm import SSMClient

    from infra.service import ServiceSpec

DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


def dynamodb_client(endpoint: str, region: str, *, dummy_credentials: bool) -> DynamoDBClient:
    import boto3

    # A real endpoint gets the developer's credentials when there are any (AWS needs them);
    # DynamoDB Local accepts anything.
    session = boto3.Session()
    use_dummy = dummy_credentials or session.get_credentials() is None
    kwargs: dict[str, Any] = DUMMY_CREDENTIALS if use_dummy else {}
    return session.client("dynamodb", endpoint_url=endpoint, region_name=region, **kwargs)


def ssm_client(endpoint: str, region: str) -> SSMClient:
    import boto3

    return boto3.client(
        "ssm",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


def create_table_request(props: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation `AWS::DynamoDB::Table` Properties -> a CreateTable request."""
    billing = props.get("BillingMode", "PROVISIONED")
    request: dict[str, Any] = {
        "TableName": props["TableName"],
        "AttributeDefinitions": list(props["AttributeDefinitions"]),
        "KeySchema": list(props["KeySchema"]),
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(props)
    gsis = []
    for index in props.get("GlobalSecondaryIndexes") or []:
        gsi = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        if billing == "PROVISIONED":
            gsi["ProvisionedThroughput"] = _throughput(index)
        gsis.append(gsi)
    if gsis:
        request["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        for index in props.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        request["LocalSecondaryIndexes"] = lsis
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    return request


def _throughput(props: Mapping[str, Any]) -> dict[str, int]:
    given = props.get("ProvisionedThroughput") or {}
    return {
        "ReadCapacityUnits": int(given.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(given.get("WriteCapacityUnits", 5)),
    }


def create_tables(client: DynamoDBClient, tables: Iterable[Mapping[str, Any]]) -> list[str]:
    """Create each table that does not exist yet (with its TTL); returns those created."""
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page.get("TableNames", []))
    created = []
    for props in tables:
        name = str(props["TableName"])
        if name in existing:
            continue
        client.create_table(**create_table_request(props))
        client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        created.append(name)
    return created


def put_parameters(client: SSMClient, parameters: Mapping[str, str]) -> None:
    """Store each parameter as a SecureString (as the deployed service expects)."""
    for name, value in parameters.items():
        client.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def provision(
    spec: ServiceSpec, *, dynamodb_endpoint: str, ssm_endpoint: str, dummy_credentials: bool = True
) -> list[str]:
    """Create `spec`'s missing tables and put its parameters; returns the tables created."""
    dynamodb = dynamodb_client(dynamodb_endpoint, spec.region, dummy_credentials=dummy_credentials)
    created = create_tables(dynamodb, spec.tables)
    put_parameters(ssm_client(ssm_endpoint, spec.region), spec.parameters)
    return created
