"""infra.config on serverless.yml: what this round added (short tags, stage, runtime, name,
REST events, layers, requirements, plugins, and the list of what is ignored)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from infra.config import ConfigError, load_service
from infra.service import ServiceSpec


def write(tmp_path: Path, body: str, name: str = "serverless.yml") -> Path:
    path = tmp_path / name
    if body.startswith(HEAD):  # HEAD + an indented block continuing it
        body = HEAD + dedent(body[len(HEAD) :])
    path.write_text(dedent(body))
    return path


def load(tmp_path: Path, body: str, stage: str | None = None, **kwargs: object) -> ServiceSpec:
    return load_service(write(tmp_path, body), stage, env={}, **kwargs)  # type: ignore[arg-type]


HEAD = """
service: svc
provider:
  name: aws
  runtime: python3.11
"""


def test_provider_stage_is_the_default_stage_and_stage_overrides_it(tmp_path: Path) -> None:
    body = (
        HEAD
        + "  stage: staging\nfunctions:\n  f: {handler: h.f, environment: {S: '${sls:stage}'}}\n"
    )
    spec = load(tmp_path, body)
    assert spec.stage == "staging" and spec.functions["f"].environment["S"] == "staging"
    spec = load(tmp_path, body, stage="prod")
    assert spec.stage == "prod" and spec.functions["f"].environment["S"] == "prod"


def test_opt_stage_with_a_default_is_dev_when_no_stage_is_given(tmp_path: Path) -> None:
    body = HEAD + "  stage: ${opt:stage, 'dev'}\nfunctions:\n  f: {handler: h.f}\n"
    assert load(tmp_path, body).stage == "dev"
    assert load(tmp_path, body, stage="qa").stage == "qa"


def test_self_provider_stage_is_the_stage_even_when_unset(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD + "  environment: {T: '${self:service}-${opt:stage, self:provider.stage}'}\n"
        "functions:\n  f: {handler: h.f}\n",
    )
    assert spec.functions["f"].environment["T"] == "svc-dev"


def test_runtime_architecture_name_and_code_root(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + """
          architecture: arm64
        functions:
          a: {handler: h.a}
          b: {handler: h.b, runtime: python3.9, name: 'custom-${sls:stage}-b', architecture: x86_64}
        """,
    )
    a, b = spec.functions["a"], spec.functions["b"]
    assert (a.runtime, a.architecture, a.deployed_name) == ("python3.11", "arm64", None)
    assert (b.runtime, b.architecture, b.deployed_name) == ("python3.9", "x86_64", "custom-dev-b")
    assert spec.deployed_name("a") == "svc-dev-a" and spec.deployed_name("b") == "custom-dev-b"
    assert a.code_root == tmp_path.resolve() and spec.base_dir == tmp_path.resolve()


@pytest.mark.parametrize("runtime", ["nodejs20.x", "provided.al2023", "java21", "python2.7"])
def test_a_runtime_that_is_not_python3_is_refused_naming_the_function(
    tmp_path: Path, runtime: str
) -> None:
    body = (
        HEAD + f"functions:\n  ok: {{handler: h.f}}\n  js: {{handler: h.f, runtime: {runtime}}}\n"
    )
    with pytest.raises(ConfigError, match=rf"functions\.js: runtime {runtime} is not reproduced"):
        load(tmp_path, body)


def test_no_runtime_at_all_is_refused_as_the_framework_would_deploy_nodejs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"functions\.f: no runtime.*default is nodejs"):
        load(tmp_path, "service: s\nprovider: {name: aws}\nfunctions: {f: {handler: h.f}}\n")


def test_short_tags_in_serverless_yml(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + """
          environment:
            TABLE: !Ref Items
            ARN: !GetAtt Items.Arn
            BOTH: !Join [',', [!Ref Items, !Sub '${AWS::Region}']]
            STAGE_SUB: !Sub '${sls:stage}-${AWS::AccountId}'
            FN: !GetAtt FLambdaFunction.Arn
            API: !Ref WebsocketsApi
        functions:
          f: {handler: h.f}
        resources:
          Resources:
            Items:
              Type: AWS::DynamoDB::Table
              Properties:
                TableName: !Sub '${AWS::StackName}-items'
        """,
    )
    env = spec.functions["f"].environment
    assert env["TABLE"] == "svc-dev-items"
    assert env["ARN"] == "arn:aws:dynamodb:us-east-1:123456789012:table/svc-dev-items"
    assert env["BOTH"] == "svc-dev-items,us-east-1"
    assert env["STAGE_SUB"] == "dev-123456789012"
    assert env["FN"] == "arn:aws:lambda:us-east-1:123456789012:function:svc-dev-f"
    assert len(env["API"]) == 10 and env["API"].isalnum()
    assert spec.tables[0]["TableName"] == "svc-dev-items"


def test_conditions_of_the_resources_section(tmp_path: Path) -> None:
    body = (
        HEAD
        + """
          environment:
            MODE: !If [IsProd, live, test]
        functions:
          f: {handler: h.f}
        resources:
          Conditions:
            IsProd: !Equals ['${sls:stage}', prod]
          Resources:
            ProdOnly:
              Type: AWS::DynamoDB::Table
              Condition: IsProd
              Properties: {TableName: prod-only}
        """
    )
    dev, prod = load(tmp_path, body), load(tmp_path, body, stage="prod")
    assert dev.functions["f"].environment["MODE"] == "test" and dev.tables == ()
    assert prod.functions["f"].environment["MODE"] == "live"
    assert [t["TableName"] for t in prod.tables] == ["prod-only"]


def test_a_reference_with_no_local_value_names_the_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"provider\.environment\.Q.*Ref Stream \(AWS::Kinesis"):
        load(
            tmp_path,
            HEAD
            + """
              environment: {Q: !Ref Stream}
            functions: {f: {handler: h.f}}
            resources:
              Resources:
                Stream: {Type: AWS::Kinesis::Stream, Properties: {ShardCount: 1}}
            """,
        )


def test_pseudo_parameters_syntax_with_its_plugin(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + """
          environment:
            ARN: 'arn:aws:sqs:#{AWS::Region}:#{AWS::AccountId}:jobs'
            TABLE: '#{Items}'
        plugins:
          - serverless-pseudo-parameters
        functions: {f: {handler: h.f}}
        resources:
          Resources:
            Items:
              Type: AWS::DynamoDB::Table
              Properties: {TableName: 'items-#{AWS::Region}'}
        """,
    )
    assert spec.functions["f"].environment["ARN"] == "arn:aws:sqs:us-east-1:123456789012:jobs"
    assert spec.functions["f"].environment["TABLE"] == "items-us-east-1"
    assert spec.tables[0]["TableName"] == "items-us-east-1"
    assert spec.ignored == ()


def test_pseudo_parameters_syntax_without_its_plugin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TableName.*#\{\.\.\.\} syntax.*not in plugins"):
        load(
            tmp_path,
            HEAD
            + """
            functions: {f: {handler: h.f}}
            resources:
              Resources:
                Items:
                  Type: AWS::DynamoDB::Table
                  Properties: {TableName: 'items-#{AWS::AccountId}'}
            """,
        )


def test_rest_http_events(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + """
        functions:
          f:
            handler: h.f
            events:
              - http: GET hello
              - http: {path: 'users/{id}', method: any, cors: true}
              - http: {path: /, method: post, integration: lambda-proxy}
              - httpApi: 'GET /v2'
        """,
    )
    hello, users, root, v2 = spec.http_routes
    assert (hello.api, hello.method, hello.path, hello.payload_version) == (
        "rest",
        "GET",
        "/hello",
        "1.0",
    )
    assert (users.method, users.path) == ("*", "/users/{id}")
    assert (root.method, root.path) == ("POST", "/")
    assert (v2.api, v2.payload_version) == ("http", "2.0")
    assert spec.ignored == (
        "functions.f.events[1] (http).cors: OPTIONS preflight answers are not reproduced locally",
    )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("{path: x, method: get, integration: lambda}", "integration 'lambda' is not reproduced"),
        ("{path: x, method: get, authorizer: aws_iam}", "REST API authorizers are not reproduced"),
        ("{path: x, method: get, private: true}", "private \\(API key\\) endpoints"),
    ],
)
def test_rest_events_that_would_behave_differently_are_refused(
    tmp_path: Path, event: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"functions\.f\.events\[0\] \(http\).*{message}"):
        load(tmp_path, HEAD + f"functions:\n  f: {{handler: h.f, events: [{{http: {event}}}]}}\n")


def test_http_api_payload_version(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + "  httpApi: {payload: '1.0'}\n"
        + "functions:\n  f: {handler: h.f, events: [{httpApi: '*'}]}\n",
    )
    assert spec.http_routes[0].payload_version == "1.0"


def test_http_api_authorizers_and_keys_not_reproduced_are_listed(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + """
          httpApi:
            cors: true
            authorizers:
              cognito:
                type: jwt
                identitySource: $request.header.Authorization
                issuerUrl: https://cognito-idp.us-east-1.amazonaws.com/pool
                audience: [client]
        functions:
          f:
            handler: h.f
            events:
              - httpApi: {method: get, path: /a, cors: true, swaggerTags: [x]}
              - http: {method: get, path: b, cors: true}
        """,
    )
    assert set(spec.ignored) == {
        "provider.httpApi.cors: not reproduced locally",
        "provider.httpApi.authorizers.cognito (jwt): not reproduced locally; "
        "an httpApi route that uses it is refused",
        "functions.f.events[0] (httpApi).cors: not reproduced locally",
        "functions.f.events[0] (httpApi).swaggerTags: not reproduced locally",
        "functions.f.events[1] (http).cors: OPTIONS preflight answers are not reproduced locally",
    }


@pytest.mark.parametrize(
    ("authorizer", "message"),
    [
        ("{name: cognito, scopes: [read]}", "authorizer 'cognito' is not a request authorizer"),
        ("{type: aws_iam}", "IAM authorization is not reproduced locally"),
    ],
)
def test_http_api_routes_behind_jwt_or_iam_are_refused(
    tmp_path: Path, authorizer: str, message: str
) -> None:
    body = (
        HEAD
        + "  httpApi:\n    authorizers:\n"
        + "      cognito: {type: jwt, issuerUrl: 'https://x', audience: [a]}\n"
        + "functions:\n  f: {handler: h.f, events: [{httpApi: {method: get, path: /a, "
        + f"authorizer: {authorizer}}}}}]}}\n"
    )
    with pytest.raises(ConfigError, match=rf"functions\.f\.events\[0\] \(httpApi\): {message}"):
        load(tmp_path, body)


def test_what_is_not_reproduced_is_listed(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + """
          vpc: {securityGroupIds: [sg-1], subnetIds: [subnet-1]}
          iam: {role: {statements: []}}
          logRetentionInDays: 7
        plugins:
          - serverless-offline
          - serverless-plugin-warmup
        useDotenv: true
        functions:
          ping:
            handler: h.f
            destinations: {onFailure: arn:aws:sqs:us-east-1:1:q}
            events:
              - schedule: rate(5 minutes)
              - sqs: arn:aws:sqs:us-east-1:1:q
              - stream: {type: dynamodb, arn: arn:aws:dynamodb:x}
              - alexaSkill
        resources:
          Resources:
            Bucket: {Type: AWS::S3::Bucket}
            Role: {Type: AWS::IAM::Role, Properties: {}}
          extensions:
            PingLambdaFunction: {Properties: {Timeout: 3}}
        """,
    )
    assert set(spec.ignored) == {
        "plugins: serverless-plugin-warmup: not reproduced locally "
        "(what it adds to the package or the template is not applied)",
        "provider.vpc: not reproduced locally",
        "useDotenv: .env files are not loaded; ${env:} reads the environment",
        "resources.extensions.PingLambdaFunction: not applied locally",
        "resources.Resources: AWS::IAM::Role (Role): not created locally (IAM is not enforced)",
        "resources.Resources: AWS::S3::Bucket (Bucket): not created locally",
        "functions.ping.destinations: not reproduced locally",
        "functions.ping.events[0] (schedule): not reproduced locally; "
        "nothing invokes ping on this event",
        "functions.ping.events[1] (sqs): not reproduced locally; "
        "nothing invokes ping on this event",
        "functions.ping.events[2] (stream): not reproduced locally; "
        "nothing invokes ping on this event",
        "functions.ping.events[3] (alexaSkill): not reproduced locally; "
        "nothing invokes ping on this event",
    }


def test_layers_by_ref_and_by_arn(tmp_path: Path) -> None:
    (tmp_path / "deps" / "python").mkdir(parents=True)
    spec = load(
        tmp_path,
        HEAD
        + """
          layers:
            - Ref: DepsLambdaLayer
        custom:
          local:
            layers:
              arn:aws:lambda:us-east-1:123:layer:mapped:3: vendor/mapped.zip
        layers:
          deps: {path: deps}
          my_zip: {package: {artifact: build/layer.zip}}
        functions:
          a: {handler: h.a}
          b:
            handler: h.b
            layers:
              - !Ref MyUnderscorezipLambdaLayer
              - arn:aws:lambda:us-east-1:123:layer:mapped:3
              - arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3:7
        """,
    )
    root = tmp_path.resolve()
    assert spec.functions["a"].layers == (root / "deps",)
    assert spec.functions["b"].layers == (root / "build/layer.zip", root / "vendor/mapped.zip")
    (line,) = spec.ignored
    assert line.startswith("functions.b.layers[2]: arn:aws:lambda:us-east-1:017000801446:")
    assert "imports from it fail locally" in line


def test_a_layer_of_the_service_runs_locally_from_this_machines_build(tmp_path: Path) -> None:
    # The deployed layer is built for the declared architecture; locally every function
    # runs on this machine's, so custom.local.layers names the copy built for each.
    from infra.awslambda.native_code import host_architecture

    other = "x86_64" if host_architecture() == "arm64" else "arm64"
    body = (
        HEAD
        + f"""
          architecture: {other}
          layers:
            - Ref: DepsLambdaLayer
        custom:
          local:
            layers:
              deps:
                {host_architecture()}: build/here.zip
                {other}: build/there.zip
        layers:
          deps: {{package: {{artifact: build/layer-{other}.zip}}}}
        functions:
          a: {{handler: h.a}}
          b:
            handler: h.b
            layers: [arn:aws:lambda:us-east-1:123456789012:layer:svc-dev-deps:1]
        """
    )
    spec = load(tmp_path, body)
    here = tmp_path.resolve() / "build/here.zip"
    assert spec.functions["a"].layers == (here,)
    assert spec.functions["a"].architecture == other
    # By its ARN, as a template written by hand would reference it.
    assert spec.functions["b"].layers == (here,)

    without_host = body.replace(f"{host_architecture()}: build/here.zip", "")
    with pytest.raises(
        ConfigError,
        match=rf"custom\.local\.layers\.deps: no entry for this "
        rf"machine's architecture \({host_architecture()}\); it has {other}",
    ):
        load(tmp_path, without_host)
    unknown = body.replace("              deps:\n", "              nodeps:\n")
    with pytest.raises(
        ConfigError,
        match=r"custom\.local\.layers\.nodeps: neither a layer of "
        r"this service \(deps under layers:\) nor a layer ARN",
    ):
        load(tmp_path, unknown)


def test_requirements_follow_serverless_python_requirements(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests==2.32.3\n")
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "requirements.txt").write_text("pyjwt\n")
    body = HEAD + "functions:\n  a: {handler: h.a}\n  w: {handler: h.w, module: worker}\n"
    without = load(tmp_path, body)
    assert without.functions["a"].requirements is None
    assert (
        "requirements.txt: not installed, as on AWS: no serverless-python-requirements "
        "in plugins: (the Framework packages no dependencies by itself)"
    ) in without.ignored
    spec = load(tmp_path, body + "plugins: [serverless-python-requirements]\n")
    root = tmp_path.resolve()
    a, w = spec.functions["a"], spec.functions["w"]
    assert (a.requirements, a.code_root) == (root / "requirements.txt", root)
    assert (w.requirements, w.code_root) == (root / "worker/requirements.txt", root / "worker")
    assert spec.ignored == ()


def test_requirements_file_name_option(tmp_path: Path) -> None:
    (tmp_path / "requirements-prod.txt").write_text("attrs\n")
    spec = load(
        tmp_path,
        HEAD
        + "plugins: [serverless-python-requirements]\n"
        + "custom: {pythonRequirements: {fileName: requirements-prod.txt}}\n"
        + "functions: {a: {handler: h.a}}\n",
    )
    assert spec.functions["a"].requirements == tmp_path.resolve() / "requirements-prod.txt"


def test_custom_local_is_the_services_own_settings(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + "custom:\n  local:\n    web: site\n    banner: ['stage ${sls:stage}']\n"
        + "functions: {a: {handler: h.a}}\n",
    )
    assert spec.local == {"web": "site", "banner": ["stage dev"]}


def test_params_and_file_variables(tmp_path: Path) -> None:
    (tmp_path / "config.dev.json").write_text('{"table": {"name": "from-file"}}')
    spec = load(
        tmp_path,
        HEAD
        + """
        params:
          default: {domain: example.com}
          prod: {domain: prod.example.com}
        functions:
          a:
            handler: h.a
            environment:
              DOMAIN: ${param:domain}
              TABLE: ${file(./config.${sls:stage}.json):table.name}
        """,
    )
    assert spec.functions["a"].environment == {"DOMAIN": "example.com", "TABLE": "from-file"}


def test_unknown_variable_sources_name_themselves(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'construct' is not a variable source"):
        load(
            tmp_path,
            HEAD + "functions: {a: {handler: h.a, environment: {Q: '${construct:q.url}'}}}\n",
        )


DEFAULT_EXCLUDES = (
    "!.git/**",
    "!.gitignore",
    "!.DS_Store",
    "!npm-debug.log",
    "!yarn-*.log",
    "!.serverless/**",
    "!.serverless_plugins/**",
    "!serverless.yml",
)


def test_package_patterns_as_the_framework_applies_them(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD
        + """
        package:
          patterns: ['!**', 'src/**']
        layers:
          deps: {path: ./layer}
        functions:
          a: {handler: src/a.handler}
          b:
            handler: src/b.handler
            package: {patterns: [extra/**]}
          c:
            handler: src/c.handler
            package: {individually: true, patterns: [extra/**]}
        """,
    )
    service = (*DEFAULT_EXCLUDES, "!layer/**", "!**", "src/**")
    assert spec.functions["a"].package_patterns == service
    assert spec.functions["b"].package_patterns == service  # needs individually
    assert spec.functions["c"].package_patterns == (*service, "extra/**")
    assert spec.ignored == (
        "functions.b.package.patterns: not applied, as by the Framework: function patterns "
        "need package.individually",
    )


def test_no_patterns_no_package_of_its_own(tmp_path: Path) -> None:
    spec = load(tmp_path, HEAD + "package: {individually: true}\nfunctions: {a: {handler: h.a}}\n")
    assert spec.functions["a"].package_patterns == ()
    assert spec.functions["a"].code_root == tmp_path.resolve()


def test_a_prebuilt_artifact_is_the_code_root(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "all.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    (tmp_path / "build" / "own.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    spec = load(
        tmp_path,
        HEAD
        + """
        package: {artifact: build/all.zip, patterns: ['!**']}
        functions:
          a: {handler: h.a}
          b: {handler: h.b, package: {artifact: build/own.zip}}
        """,
    )
    assert spec.functions["a"].code_root == tmp_path.resolve() / "build" / "all.zip"
    assert spec.functions["b"].code_root == tmp_path.resolve() / "build" / "own.zip"
    assert spec.functions["a"].package_patterns == spec.functions["b"].package_patterns == ()


@pytest.mark.parametrize(
    ("package", "message"),
    [
        ("{artifact: build/missing.zip}", r"package\.artifact: .*missing\.zip does not exist"),
        ("{artifact: 's3://bucket/code.zip'}", r"package\.artifact: s3://bucket/code\.zip is not"),
        ("{patterns: '!**'}", r"package\.patterns: expected a list of glob patterns"),
    ],
)
def test_packages_that_cannot_be_built_locally_are_refused(
    tmp_path: Path, package: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, HEAD + f"package: {package}\nfunctions: {{a: {{handler: h.a}}}}\n")


def test_v1_include_and_exclude_are_listed_as_not_read(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        HEAD + "package: {exclude: [tests/**]}\nfunctions: {a: {handler: h.a}}\n",
    )
    assert spec.ignored == (
        "package.exclude: not read (Framework v3 reads package.patterns only); "
        "the package is built without it",
    )
