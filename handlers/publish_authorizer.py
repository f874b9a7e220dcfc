"""HTTP API Lambda authorizer (payload 2.0, simple responses) for the publish route.

No or a bad bearer token → raise "Unauthorized" (401); a genuine token without the
publish scope → isAuthorized false (403). The scope is matched exactly: `publish`, or
what CHAT_PUBLISH_SCOPE names (a Cognito resource-server scope is `{identifier}/{name}`:
set the whole string).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from .chat.auth import TokenVerifier, bearer, secret_source
from .chat.errors import AuthError, Forbidden
from .chat.settings import Settings
from .failures import Unauthorized, counts_internal_errors
from .tracing import traced

logger = Logger()
settings = Settings.from_env()
verifier = TokenVerifier(settings, secret_source(settings))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@counts_internal_errors(logger)
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        identity = verifier.verify(bearer(headers.get("authorization")))
    except Forbidden as exc:
        logger.info("token denied", extra={"reason": str(exc)})
        return {"isAuthorized": False}
    except AuthError as exc:
        logger.info("token refused", extra={"reason": str(exc)})
        raise Unauthorized from None  # API Gateway's word for 401
    if settings.publish_scope not in identity.scopes:
        logger.info("token lacks the publish scope", extra={"sub": identity.user.id})
        return {"isAuthorized": False}
    user = identity.user
    return {"isAuthorized": True, "context": {"userId": user.id, "userName": user.name}}
