"""The first thing AWS checks on a call to one of its APIs: a SigV4 `Authorization` header.

The Management API (`execute-api`) and Lambda's Invoke API (`lambda`) take only signed
requests. Without an `Authorization` header AWS answers 403
``{"message": "Missing Authentication Token"}`` (`x-amzn-ErrorType:
MissingAuthenticationTokenException`) and does nothing; a header that is not a complete
SigV4 one is 403 `IncompleteSignatureException`; one scoped to another service is 403
`InvalidSignatureException`. boto3 always signs, so code written the AWS way never sees
these; a browser page or a forged `curl` does.

Locally the header's form and scope are checked, not its signature: the harness does not
know which key a caller signs with (sandboxes sign with dummy keys, tools with the
developer's). Query-string (presigned) signatures are not accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from infra.http import HttpResponse, header, json_message

ALGORITHM = "AWS4-HMAC-SHA256"
_PARAM = re.compile(r"\s*([A-Za-z]+)\s*=\s*([^,\s]*)\s*")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
# How much of a malformed header AWS-style messages quote back.
_QUOTE_LIMIT = 200


def refusal(headers: Sequence[tuple[str, str]], service: str) -> HttpResponse | None:
    """AWS's answer to a request not signed for `service` (None: the header is a SigV4 one
    scoped to that service)."""
    authorization = header(headers, "authorization")
    if authorization is None or not authorization.strip():
        return _error("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = authorization.strip().partition(" ")
    params = _params(rest) if algorithm == ALGORITHM else {}
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    amz_date = header(headers, "x-amz-date")
    if amz_date is None and header(headers, "date") is None:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if algorithm != ALGORITHM or missing:
        quoted = authorization[:_QUOTE_LIMIT]
        return _error(
            "IncompleteSignatureException", " ".join([*missing, f"Authorization={quoted}"])
        )
    if amz_date is not None and not _AMZ_DATE.match(amz_date):
        return _error(
            "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.",
        )
    scope = params["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        return _error(
            "IncompleteSignatureException",
            f"Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{params['Credential']}'",
        )
    if scope[3] != service:
        return _error(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'. ",
        )
    signed = params["SignedHeaders"].lower().split(";")
    if "host" not in signed:
        return _error(
            "InvalidSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        )
    if not _SIGNATURE.match(params["Signature"]):
        return _error(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
    return None


def _params(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in text.split(","):
        match = _PARAM.fullmatch(part)
        if match is not None:
            found[match[1]] = match[2]
    return found


def _error(error_type: str, message: str) -> HttpResponse:
    return json_message(403, message, (("x-amzn-ErrorType", error_type),))
