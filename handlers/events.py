"""The Lambda events this service receives, as Powertools parser models.

Powertools' WebSocket models know nothing of a Lambda authorizer, so the request
contexts are extended with what ours puts there (principalId, userId, userName).
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import BaseModel, Field
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from aws_lambda_powertools.utilities.parser.models.apigw_websocket import (
    APIGatewayWebSocketConnectEventRequestContext,
    APIGatewayWebSocketDisconnectEventRequestContext,
    APIGatewayWebSocketMessageEventRequestContext,
)

from .chat.model import User


class ChatAuthorizer(BaseModel):
    """`requestContext.authorizer` as our $connect authorizer leaves it on every event."""

    principal_id: str = Field(alias="principalId")
    user_id: str = Field(alias="userId")
    user_name: str = Field(alias="userName")

    def user(self) -> User:
        return User(id=self.user_id, name=self.user_name)


class ConnectContext(APIGatewayWebSocketConnectEventRequestContext):
    authorizer: ChatAuthorizer


class ConnectEvent(APIGatewayWebSocketConnectEventModel):
    request_context: ConnectContext = Field(alias="requestContext")


class MessageContext(APIGatewayWebSocketMessageEventRequestContext):
    authorizer: ChatAuthorizer


class MessageEvent(APIGatewayWebSocketMessageEventModel):
    request_context: MessageContext = Field(alias="requestContext")
    body: str | None = None


class DisconnectContext(APIGatewayWebSocketDisconnectEventRequestContext):
    authorizer: ChatAuthorizer | None = None


class DisconnectEvent(APIGatewayWebSocketDisconnectEventModel):
    request_context: DisconnectContext = Field(alias="requestContext")


class PublishEvent(APIGatewayProxyEventV2Model):
    """POST /rooms/{room}/messages on the HTTP API (payload format 2.0)."""


class FanOutEvent(BaseModel):
    """One shard of a room's fan-out, from `chat.shards.shard_event` (an async invoke)."""

    room: str = Field(min_length=1)
    payload: str = Field(min_length=1)
    connection_ids: list[str] = Field(alias="connectionIds", min_length=1)
    endpoint: str | None = None  # the Management API of the API the message came through
