"""SigV4 headers for raw HTTP calls to the AWS APIs on the gateway's port, made by
botocore's own signer (as boto3 would sign them), for tests that need to see the exact
status and headers a request gets."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDENTIALS = Credentials("test", "test")


def signed_headers(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    service: str = "execute-api",
    region: str = "us-east-1",
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers of `method url` signed for `service` (Host, X-Amz-Date, Authorization)."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(CREDENTIALS, service, region).add_auth(request)
    return dict(request.headers.items())
