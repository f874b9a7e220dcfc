"""The local values of a stack's resources, for `Ref` and `Fn::GetAtt`.

A table's Ref is its name and its Arn the ARN moto gives it; a function's Ref is its
deployed name; the WebSocket API's Ref is the id the local gateway puts in
`requestContext.apiId`. Names CloudFormation would generate (`stack-Logical-RANDOM`) are
generated here the same way, stable across runs. A resource with no local counterpart
(an S3 bucket, a queue) is a `ConfigError` naming the place that refers to it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from infra.template.errors import ConfigError
from infra.template.intrinsics import LOCAL_ACCOUNT_ID, scalar_str

Evaluate = Callable[[Any, str], Any]

_PYTHON_RUNTIME = re.compile(r"^python3\.\d+$")


def python_runtime(runtime: str, where: str) -> str:
    """`runtime` if the harness runs it (python3.x), else a ConfigError naming `where`."""
    if not _PYTHON_RUNTIME.match(runtime):
        raise ConfigError(
            f"{where}: runtime {runtime} is not reproduced locally; the harness runs "
            "python3.x functions only"
        )
    return runtime


def generated_name(stack: str, logical: str, limit: int = 255) -> str:
    """CloudFormation's name for an unnamed resource: stack-Logical-RANDOM (stable here)."""
    digest = hashlib.sha1(f"{stack}/{logical}".encode()).hexdigest()[:12].upper()
    head = f"{stack}-{logical}"[: limit - 13]
    return f"{head}-{digest}"


def short_id(*parts: str) -> str:
    """A stable 7-character id, lowercase alphanumerics like API Gateway's route ids."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:7])


def api_id(service: str, stage: str) -> str:
    """The id the local gateway gives the service's API (`requestContext.apiId`)."""
    # Imported here: the gateway's package pulls in its server, which a loader does not need.
    from infra.apigateway.ids import api_id_for

    return api_id_for(service, stage)


def table_arn(region: str, name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{LOCAL_ACCOUNT_ID}:table/{name}"


def function_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{name}"


def layer_arn(region: str, name: str, version: int = 1) -> str:
    return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:layer:{name}:{version}"


def api_endpoint(scheme: str, api: str, region: str) -> str:
    """An API's `ApiEndpoint` attribute, as AWS gives it."""
    from infra.apigateway.ids import execute_api_host

    return f"{scheme}://{execute_api_host(api, region)}"


class LocalResources:
    """Logical id -> local Ref and attribute values, computed on first use."""

    def __init__(self, service: str, stage: str, region: str, stack_name: str) -> None:
        self.service = service
        self.stage = stage
        self.region = region
        self.stack_name = stack_name
        self.types: dict[str, str] = {}
        self._refs: dict[str, Callable[[], Any]] = {}
        self._atts: dict[tuple[str, str], Callable[[], Any]] = {}
        self._cache: dict[tuple[str, str], Any] = {}
        self._in_progress: set[tuple[str, str]] = set()
        self.tables: list[str] = []  # logical ids, in template order
        self.ssm_parameters: list[str] = []
        self.layer_paths: dict[str, Path] = {}  # logical id -> local content
        self.layer_paths_by_arn: dict[str, Path] = {}
        self.layer_arns: dict[str, str] = {}  # logical id -> ARN

    # -- ResourceValues ------------------------------------------------------------------
    def has(self, logical_id: str) -> bool:
        return logical_id in self.types

    def ref(self, logical_id: str, where: str) -> Any:
        return self._value(logical_id, "", self._refs.get(logical_id), where)

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        return self._value(logical_id, attribute, self._atts.get((logical_id, attribute)), where)

    def _value(
        self, logical: str, attribute: str, thunk: Callable[[], Any] | None, where: str
    ) -> Any:
        shown = f"{logical}.{attribute}" if attribute else logical
        if thunk is None:
            kind = self.types.get(logical, "unknown")
            what = f"Fn::GetAtt {shown}" if attribute else f"Ref {shown}"
            raise ConfigError(f"{where}: {what} ({kind}) has no local value")
        key = (logical, attribute)
        if key in self._cache:
            return self._cache[key]
        if key in self._in_progress:
            raise ConfigError(f"{where}: {shown} refers to itself")
        self._in_progress.add(key)
        try:
            value = self._cache[key] = thunk()
        finally:
            self._in_progress.discard(key)
        return value

    # -- declaring resources -------------------------------------------------------------
    def add(
        self,
        logical: str,
        kind: str,
        ref: Callable[[], Any] | None = None,
        **attributes: Callable[[], Any],
    ) -> None:
        self.types[logical] = kind
        if ref is not None:
            self._refs[logical] = ref
        for name, thunk in attributes.items():
            self._atts[(logical, name)] = thunk

    def add_function(self, logical: str, name: Callable[[], str]) -> None:
        self.add(
            logical,
            "AWS::Lambda::Function",
            ref=name,
            Arn=lambda: function_arn(self.region, self.ref(logical, logical)),
        )

    def add_layer(self, logical: str, name: str, content: Path) -> None:
        arn = layer_arn(self.region, name)
        self.add(logical, "AWS::Lambda::LayerVersion", ref=lambda: arn)
        self.layer_paths[logical] = content
        self.layer_paths_by_arn[arn] = content
        self.layer_arns[logical] = arn

    def run_layer_from(self, logical: str, content: Path) -> None:
        """Run the layer `logical` from local `content` instead of its package (whether
        it is referenced by `Ref` or by its ARN)."""
        self.layer_paths[logical] = content
        self.layer_paths_by_arn[self.layer_arns[logical]] = content

    def add_api(self, logical: str, scheme: str) -> None:
        """The service's API (all APIs share the gateway's id locally: one host serves them)."""
        ident = api_id(self.service, self.stage)
        self.add(
            logical,
            "AWS::ApiGatewayV2::Api",
            ref=lambda: ident,
            ApiId=lambda: ident,
            ApiEndpoint=lambda: api_endpoint(scheme, ident, self.region),
            RootResourceId=lambda: short_id(logical, "root"),
        )

    def declare(
        self, logical: str, kind: str, properties: Mapping[str, Any], evaluate: Evaluate
    ) -> None:
        """A resource of the template's Resources section (values from its Properties)."""
        where = f"Resources.{logical}.Properties"

        def prop(key: str, default: Callable[[], str]) -> Callable[[], str]:
            def value() -> str:
                if properties.get(key) is None:
                    return default()
                return scalar_str(evaluate(properties[key], f"{where}.{key}"))

            return value

        def generated(limit: int = 255) -> Callable[[], str]:
            return lambda: generated_name(self.stack_name, logical, limit)

        if kind == "AWS::DynamoDB::Table":
            name = prop("TableName", generated())
            self.add(logical, kind, ref=name, Arn=lambda: table_arn(self.region, name()))
            self.tables.append(logical)
        elif kind == "AWS::SSM::Parameter":
            pname = prop("Name", lambda: f"CFN-{generated_name(self.stack_name, logical)}")
            self.add(logical, kind, ref=pname, Value=prop("Value", lambda: ""))
            self.ssm_parameters.append(logical)
        elif kind == "AWS::IAM::Role":
            role = prop("RoleName", generated(64))
            self.add(
                logical,
                kind,
                ref=role,
                Arn=lambda: f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{role()}",
                RoleId=lambda: "AROA" + short_id(logical).upper(),
            )
        elif kind == "AWS::Logs::LogGroup":
            group = prop("LogGroupName", generated(512))
            self.add(
                logical,
                kind,
                ref=group,
                Arn=lambda: f"arn:aws:logs:{self.region}:{LOCAL_ACCOUNT_ID}:log-group:{group()}:*",
            )
        elif kind == "AWS::S3::Bucket":  # names only: the bucket itself is not created
            bucket = prop(
                "BucketName", lambda: generated_name(self.stack_name, logical, 63).lower()
            )
            self.add(
                logical,
                kind,
                ref=bucket,
                Arn=lambda: f"arn:aws:s3:::{bucket()}",
                DomainName=lambda: f"{bucket()}.s3.amazonaws.com",
                RegionalDomainName=lambda: f"{bucket()}.s3.{self.region}.amazonaws.com",
            )
        elif kind == "AWS::SQS::Queue":
            queue = prop("QueueName", generated(80))
            self.add(
                logical,
                kind,
                ref=lambda: f"https://sqs.{self.region}.amazonaws.com/{LOCAL_ACCOUNT_ID}/{queue()}",
                Arn=lambda: f"arn:aws:sqs:{self.region}:{LOCAL_ACCOUNT_ID}:{queue()}",
                QueueName=queue,
            )
        elif kind == "AWS::SNS::Topic":
            topic = prop("TopicName", generated(256))
            arn = lambda: f"arn:aws:sns:{self.region}:{LOCAL_ACCOUNT_ID}:{topic()}"  # noqa: E731
            self.add(logical, kind, ref=arn, TopicArn=arn, TopicName=topic)
        else:
            self.add(logical, kind)


# Resource types with no local effect on the running code: not worth a line each at start.
_SILENT_TYPES = {
    "AWS::Lambda::Permission",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGateway::Deployment",
    "AWS::CloudFormation::WaitConditionHandle",
}


def summarize_ignored_resources(
    resources: Mapping[str, Any], prefix: str, reproduced: Iterable[str] = ()
) -> list[str]:
    """One line per resource type the harness does not create, naming the resources."""
    skip = {"AWS::DynamoDB::Table", "AWS::SSM::Parameter", *reproduced, *_SILENT_TYPES}
    by_type: dict[str, list[str]] = {}
    overrides: list[str] = []
    for logical, body in resources.items():
        if not isinstance(body, Mapping) or "Type" not in body:
            overrides.append(str(logical))
            continue
        kind = str(body["Type"])
        if kind not in skip:
            by_type.setdefault(kind, []).append(str(logical))
    lines = [
        f"{prefix}: {kind} ({', '.join(names)}): not created locally"
        + (" (IAM is not enforced)" if kind.startswith("AWS::IAM::") else "")
        for kind, names in sorted(by_type.items())
    ]
    if overrides:
        lines.append(
            f"{prefix}: {', '.join(overrides)}: extensions of generated resources, "
            "not reproduced locally"
        )
    return lines
