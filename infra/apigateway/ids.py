"""Identifiers shaped like API Gateway's.

Connection ids, request ids and message ids are 16 characters of URL-safe base64 ending
in "=" (11 random bytes), e.g. ``R1kmxc2VNjMCFIA=``: the trailing "=" must be URL-encoded
in Management API paths, so encoding bugs show up locally as they would on AWS.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{15}=$")


def new_id() -> str:
    """A fresh connection / request / message id."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode("ascii")


def is_valid_id(value: str) -> bool:
    """Whether `value` has the shape of an API Gateway connection id."""
    return _ID_RE.match(value) is not None


def api_id_for(service: str, stage: str) -> str:
    """A stable 10-character API id (AWS's are lowercase alphanumerics)."""
    digest = hashlib.sha256(f"{service}/{stage}".encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def execute_api_host(api_id: str, region: str) -> str:
    """The API's default host name on AWS (its invoke URL's and `ApiEndpoint`'s)."""
    return f"{api_id}.execute-api.{region}.amazonaws.com"
