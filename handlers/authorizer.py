"""$connect authorizer (Lambda REQUEST authorizer): `?token=<JWT>` → an IAM policy.

API Gateway answers the handshake 401 when this raises Exception("Unauthorized"), 403
for a Deny policy, and passes principalId + context to every later event of the
connection as requestContext.authorizer.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from .chat.auth import TokenVerifier, secret_source
from .chat.errors import AuthError, Forbidden
from .chat.settings import Settings
from .events import AuthorizerRequestEvent
from .failures import Unauthorized, counts_internal_errors
from .tracing import traced

logger = Logger()
settings = Settings.from_env()
verifier = TokenVerifier(settings, secret_source(settings))


def policy(
    principal_id: str, effect: str, resource: str, context: dict[str, str]
) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@counts_internal_errors(logger)
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = AuthorizerRequestEvent.read(event)
    logger.append_keys(connection_id=request.connection_id)
    token = request.query_string_parameters.get("token")
    try:
        identity = verifier.verify(token)
    except Forbidden as exc:
        logger.info("token denied", extra={"reason": str(exc)})
        return policy("denied", "Deny", request.method_arn, {})
    except AuthError as exc:
        logger.info("token refused", extra={"reason": str(exc)})
        raise Unauthorized from None  # API Gateway's word for 401
    user = identity.user
    return policy(user.id, "Allow", request.method_arn, {"userId": user.id, "userName": user.name})
