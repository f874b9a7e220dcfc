"""The Lambda events this service receives, as Powertools parser models.

Powertools' WebSocket models know nothing of a Lambda authorizer, so the request
contexts are extended with what ours puts there (principalId, userId, userName).
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import BaseModel, Field, model_validator
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
from .chat.store import MAX_PARTITIONS


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
    """One shard of a room's fan-out, from `chat.shards.Shard.event` (an async invoke):
    these connections (read from the room's `partition`), or the members of the room's
    partitions [first, end) but `skip`."""

    room: str = Field(min_length=1)
    payload: str = Field(min_length=1)
    connection_ids: list[str] | None = Field(default=None, alias="connectionIds", min_length=1)
    partition: int = Field(default=0, ge=0, le=MAX_PARTITIONS)
    partitions: tuple[int, int] | None = None
    skip: str | None = None
    endpoint: str | None = None  # the Management API of the API the message came through

    @model_validator(mode="after")
    def _one_kind(self) -> FanOutEvent:
        if (self.connection_ids is None) == (self.partitions is None):
            raise ValueError("expected either connectionIds or partitions")
        if self.partitions is not None:
            first, end = self.partitions
            if not 0 < first < end <= MAX_PARTITIONS:
                raise ValueError(f"partitions must be [first, end) within 1..{MAX_PARTITIONS}")
        return self
