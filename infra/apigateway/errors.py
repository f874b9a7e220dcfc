"""AWS errors of the Management API, as boto3 reads them.

botocore's rest-json parser takes the error code from the ``x-amzn-ErrorType`` header and
the message from the JSON body; without the header `client.exceptions.GoneException`
never matches. One class per AWS error, each with its HTTP status.

    ManagementError
    ├── BadRequestException        400  malformed connection id
    ├── ForbiddenException         403  path outside @connections / another stage
    ├── GoneException              410  unknown, connecting, closing or closed connection
    ├── PayloadTooLargeException   413  POST body over 131072 bytes
    └── LimitExceededException     429  throttled (fault injection)
"""

from __future__ import annotations

import json


class ManagementError(Exception):
    status = 500
    error_type = "InternalServerError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"message": self.message}).encode()

    def headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", "application/json"), ("x-amzn-ErrorType", self.error_type)]


class BadRequestException(ManagementError):
    status = 400
    error_type = "BadRequestException"


class ForbiddenException(ManagementError):
    status = 403
    error_type = "ForbiddenException"


class GoneException(ManagementError):
    status = 410
    error_type = "GoneException"


class PayloadTooLargeException(ManagementError):
    status = 413
    error_type = "PayloadTooLargeException"


class LimitExceededException(ManagementError):
    status = 429
    error_type = "LimitExceededException"
