"""The SAM transform (AWS::Serverless-2016-10-31), done by aws-sam-translator, AWS's own
implementation of it, with the local paths SAM CLI would build kept aside.

The translator wants S3 locations: each local `CodeUri` / `ContentUri` is swapped for a
placeholder `s3://<LOCAL_BUCKET>/<LogicalId>` before the transform, and the placeholders
are read back from the translated `Code` / `Content` (as SAM CLI's own validate does).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.template.errors import ConfigError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
LOCAL_BUCKET = "wschat-local-code"
# Events of AWS::Serverless::Function the local gateway serves; the others only note.
SERVED_EVENTS = ("Api", "HttpApi")


@dataclass
class Transformed:
    template: dict[str, Any]
    code: dict[str, Path] = field(default_factory=dict)  # function logical id -> CodeUri dir
    layers: dict[str, Path] = field(default_factory=dict)  # layer logical id -> ContentUri
    ignored: list[str] = field(default_factory=list)


def transforms(doc: Mapping[str, Any]) -> list[str]:
    raw = doc.get("Transform")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [str(t.get("Name") if isinstance(t, Mapping) else t) for t in items]


def is_sam(doc: Mapping[str, Any]) -> bool:
    return SAM_TRANSFORM in transforms(doc)


def transform(
    doc: Mapping[str, Any], base: Path, parameters: Mapping[str, Any], pseudo: Mapping[str, Any]
) -> Transformed:
    """The CloudFormation template that `doc` (a SAM template in `base`) stands for."""
    # Imported here: aws-sam-translator (pydantic, jsonschema) loads in ~0.5 s, and only
    # SAM templates need it.
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(dict(doc))
    out = Transformed(template={})
    for name in transforms(template):
        if name != SAM_TRANSFORM:
            raise ConfigError(f"Transform: {name} is not reproduced locally (only {SAM_TRANSFORM})")
    globals_ = template.get("Globals") or {}
    global_fn = globals_.get("Function") or {} if isinstance(globals_, Mapping) else {}
    resources = template.get("Resources") or {}
    for logical, res in resources.items():
        if not isinstance(res, Mapping):
            continue
        props = res.setdefault("Properties", {}) if isinstance(res, dict) else {}
        kind = res.get("Type")
        if kind == "AWS::Serverless::Function":
            _local_code(logical, props, global_fn, base, out)
            for event, body in (props.get("Events") or {}).items():
                event_type = body.get("Type") if isinstance(body, Mapping) else None
                if event_type not in SERVED_EVENTS:
                    out.ignored.append(
                        f"Resources.{logical}.Properties.Events.{event} ({event_type}): "
                        f"not reproduced locally; nothing invokes {logical} on this event"
                    )
        elif kind == "AWS::Serverless::LayerVersion":
            uri = props.get("ContentUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                out.layers[logical] = (base / uri).resolve()
                props["ContentUri"] = f"s3://{LOCAL_BUCKET}/{logical}"
            build = (res.get("Metadata") or {}).get("BuildMethod")
            if build:
                out.ignored.append(
                    f"Resources.{logical}.Metadata.BuildMethod ({build}): `sam build` of the "
                    "layer is not reproduced; its ContentUri is used as it is"
                )
    values = {**parameters, **pseudo}
    session = boto3.session.Session(region_name=str(pseudo["AWS::Region"]))
    translator = Translator(None, Parser(), boto_session=session)
    try:
        out.template = translator.translate(
            template,
            parameter_values=dict(values),
            # Managed policy names are IAM's business; no IAM call is made locally.
            get_managed_policy_map=dict,
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes) or exc.message
        raise ConfigError(f"the SAM transform refused this template: {causes}") from exc
    except Exception as exc:  # the translator's other failures name no place: say so
        raise ConfigError(f"the SAM transform failed: {type(exc).__name__}: {exc}") from exc
    return out


def _local_code(
    logical: str,
    props: dict[str, Any],
    global_fn: Mapping[str, Any],
    base: Path,
    out: Transformed,
) -> None:
    uri = props.get("CodeUri", global_fn.get("CodeUri"))
    if "InlineCode" in props or props.get("PackageType") == "Image":
        return
    if uri is None:
        raise ConfigError(f"Resources.{logical}.Properties: no CodeUri (nor Globals.Function)")
    if isinstance(uri, str) and not uri.startswith("s3://"):
        out.code[logical] = (base / uri).resolve()
        props["CodeUri"] = f"s3://{LOCAL_BUCKET}/{logical}"


def placeholder(location: Any) -> str | None:
    """The logical id a translated `Code` / `Content` placeholder stands for, else None."""
    if isinstance(location, Mapping) and location.get("S3Bucket") == LOCAL_BUCKET:
        return str(location.get("S3Key"))
    return None
