"""DynamoDB storage: connections, memberships, messages, dedup and the rate limit.

Two tables (see docs/data-model.md for the access patterns and what each costs):

connections table                              messages table
  C#{conn} / META     the connection:            R#{room} / {messageId}  a message (history)
                      user, rooms (a set: the    D#{user} / {clientMsgId}  the dedup claim,
                      reverse index), rate-limit                     holding the original
                      window and count                               frame
  R#{room} / C#{conn} a membership (recipients)
  U#{user} / C#{conn} a user's connections (direct)

Every item carries a Number `expiresAt` TTL, and every read ignores expired items, since
DynamoDB deletes them only eventually and `$disconnect` is best-effort. Recipients are
found with a Query that follows LastEvaluatedKey; nothing here ever Scans.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .errors import RateLimited
from .model import Body, Connection, Member, Message, User
from .settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = Mapping[str, Any]  # a DynamoDB item in the low-level (typed) JSON form

META = "META"
_BATCH = 25  # BatchWriteItem's limit


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _conn_key(conn_id: str) -> dict[str, Any]:
    return {"pk": _s(f"C#{conn_id}"), "sk": _s(META)}


def _user(item: Item) -> User:
    return User(id=item["uid"]["S"], name=item["uname"]["S"])


class Store:
    def __init__(self, client: DynamoDBClient, settings: Settings) -> None:
        self._db = client
        self._conns = settings.connections_table
        self._msgs = settings.messages_table
        self._settings = settings

    # -- time ----------------------------------------------------------------------

    def _conn_expiry(self, now_ms: int) -> int:
        return now_ms // 1000 + self._settings.connection_ttl_s

    def _window(self, now_ms: int) -> int:
        return now_ms // (self._settings.rate_window_s * 1000)

    # -- connections -------------------------------------------------------------

    def put_connection(self, conn_id: str, user: User, now_ms: int) -> None:
        """$connect: the connection record and the user → connection index, one call."""
        exp = _n(self._conn_expiry(now_ms))
        meta = {
            **_conn_key(conn_id),
            "uid": _s(user.id),
            "uname": _s(user.name),
            "at": _n(now_ms),
            "expiresAt": exp,
            # The rate-limit window starts open, so the first frame costs one call.
            "rlw": _n(self._window(now_ms)),
            "rlc": _n(0),
        }
        by_user = {"pk": _s(f"U#{user.id}"), "sk": _s(f"C#{conn_id}"), "expiresAt": exp}
        self._batch_write(
            self._conns, [{"PutRequest": {"Item": meta}}, {"PutRequest": {"Item": by_user}}]
        )

    def touch(self, conn_id: str, user: User, now_ms: int, *, _retry: bool = True) -> Connection:
        """Count one frame against the connection's rate limit and read its record.

        The counter lives on the connection item, so the read every action needs (which
        rooms is this connection in?) and the rate-limit write are one UpdateItem. A new
        window costs a second call, at most once per window. A record that is missing
        (cleaned up while the socket lived on) is recreated from the event's identity.
        """
        limit = self._settings.rate_limit
        window = self._window(now_ms)
        try:
            resp = self._db.update_item(
                TableName=self._conns,
                Key=_conn_key(conn_id),
                UpdateExpression="SET rlc = rlc + :one",
                ConditionExpression="rlw = :w AND rlc < :lim",
                ExpressionAttributeValues={":one": _n(1), ":w": _n(window), ":lim": _n(limit)},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return self._connection(conn_id, resp["Attributes"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # ReturnValuesOnConditionCheckFailure puts the old item beside the error.
            response: dict[str, Any] = dict(exc.response)
            old: dict[str, Any] | None = response.get("Item")
        if old and int(old.get("rlw", {}).get("N", -1)) == window:
            window_ms = self._settings.rate_window_s * 1000
            retry = (window + 1) * window_ms - now_ms
            raise RateLimited(
                f"rate limit: {limit} frames per {self._settings.rate_window_s} s", retry
            )
        # A new window (or no record at all): start counting again.
        try:
            resp = self._new_window(conn_id, user, now_ms, window)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException" or not _retry:
                raise
            # Another frame of this connection (they run concurrently) opened the window
            # first: count this one against it.
            return self.touch(conn_id, user, now_ms, _retry=False)
        return self._connection(conn_id, resp["Attributes"])

    def _new_window(self, conn_id: str, user: User, now_ms: int, window: int) -> Any:
        return self._db.update_item(
            TableName=self._conns,
            Key=_conn_key(conn_id),
            UpdateExpression=(
                "SET rlw = :w, rlc = :one, uid = if_not_exists(uid, :uid), "
                "uname = if_not_exists(uname, :uname), #at = if_not_exists(#at, :now), "
                "expiresAt = if_not_exists(expiresAt, :exp)"
            ),
            ConditionExpression="attribute_not_exists(rlw) OR rlw <> :w",
            ExpressionAttributeNames={"#at": "at"},
            ExpressionAttributeValues={
                ":w": _n(window),
                ":one": _n(1),
                ":uid": _s(user.id),
                ":uname": _s(user.name),
                ":now": _n(now_ms),
                ":exp": _n(self._conn_expiry(now_ms)),
            },
            ReturnValues="ALL_NEW",
        )

    @staticmethod
    def _connection(conn_id: str, item: Item) -> Connection:
        rooms = frozenset(item.get("rooms", {}).get("SS", ()))
        return Connection(connection_id=conn_id, user=_user(item), rooms=rooms)

    def remove_connection(self, conn_id: str) -> Connection | None:
        """Delete a connection and every membership it had ($disconnect, or gone in a fan-out).

        Returns what was deleted (None when it was already gone), so the caller can tell
        the rooms it left.
        """
        resp = self._db.delete_item(
            TableName=self._conns, Key=_conn_key(conn_id), ReturnValues="ALL_OLD"
        )
        old = resp.get("Attributes")
        if not old:
            return None
        rooms = sorted(old.get("rooms", {}).get("SS", ()))
        keys = [{"pk": _s(f"R#{room}"), "sk": _s(f"C#{conn_id}")} for room in rooms]
        conn = None
        # A join whose write lands after $disconnect leaves a record holding only `rooms`:
        # no user to announce or to unindex, but its memberships go all the same.
        if "uid" in old:
            conn = self._connection(conn_id, old)
            keys.append({"pk": _s(f"U#{conn.user.id}"), "sk": _s(f"C#{conn_id}")})
        if keys:
            self._batch_write(self._conns, [{"DeleteRequest": {"Key": k}} for k in keys])
        return conn

    def drop_gone(self, conn_id: str, room: str | None = None) -> None:
        """A delivery found the connection gone (410): remove it and its memberships.

        The membership the fan-out came through is deleted even when the connection
        record is already gone, so an orphan cannot be found by the next fan-out.
        """
        conn = self.remove_connection(conn_id)
        if room is not None and (conn is None or room not in conn.rooms):
            self._db.delete_item(
                TableName=self._conns, Key={"pk": _s(f"R#{room}"), "sk": _s(f"C#{conn_id}")}
            )

    # -- rooms ---------------------------------------------------------------------

    def add_membership(self, conn_id: str, user: User, room: str, now_ms: int) -> None:
        """Both sides of a membership in one transaction: the room's list, the connection's set."""
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._conns,
                        "Item": {
                            "pk": _s(f"R#{room}"),
                            "sk": _s(f"C#{conn_id}"),
                            "uid": _s(user.id),
                            "uname": _s(user.name),
                            "expiresAt": _n(self._conn_expiry(now_ms)),
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self._conns,
                        "Key": _conn_key(conn_id),
                        # Should $disconnect have removed the record meanwhile, what this
                        # recreates still expires.
                        "UpdateExpression": (
                            "ADD rooms :r SET expiresAt = if_not_exists(expiresAt, :exp)"
                        ),
                        "ExpressionAttributeValues": {
                            ":r": {"SS": [room]},
                            ":exp": _n(self._conn_expiry(now_ms)),
                        },
                    }
                },
            ]
        )

    def remove_membership(self, conn_id: str, room: str) -> None:
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": self._conns,
                        "Key": {"pk": _s(f"R#{room}"), "sk": _s(f"C#{conn_id}")},
                    }
                },
                {
                    "Update": {
                        "TableName": self._conns,
                        "Key": _conn_key(conn_id),
                        "UpdateExpression": "DELETE rooms :r",
                        "ExpressionAttributeValues": {":r": {"SS": [room]}},
                    }
                },
            ]
        )

    def room_members(self, room: str, now_ms: int) -> list[Member]:
        """Every live connection in the room: a Query that follows LastEvaluatedKey."""
        return [
            Member(connection_id=item["sk"]["S"][2:], user=_user(item))
            for item in self._query_live(self._conns, f"R#{room}", now_ms)
        ]

    def user_connections(self, user_id: str, now_ms: int) -> list[str]:
        return [
            item["sk"]["S"][2:] for item in self._query_live(self._conns, f"U#{user_id}", now_ms)
        ]

    def _query_live(self, table: str, pk: str, now_ms: int) -> Iterator[Item]:
        # Strongly consistent, like history(): a send reads the members after storing
        # its message and a join reads the history after writing its membership, and
        # each must see the other's write (ChatService._post). An eventually consistent
        # read may not, for up to a second.
        kwargs: dict[str, Any] = {
            "TableName": table,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "expiresAt > :now",
            "ExpressionAttributeValues": {":pk": _s(pk), ":now": _n(now_ms // 1000)},
        }
        while True:
            resp = self._db.query(**kwargs)
            yield from resp.get("Items", [])
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    # -- messages ------------------------------------------------------------------

    def save_message(self, msg: Message, *, in_history: bool) -> dict[str, Any] | None:
        """Store a message (room messages go to history) and claim its clientMsgId.

        With a clientMsgId the history write and the dedup claim are one transaction, so
        dedup adds no round trip. Returns None for a new message, or the original frame
        when this user already sent that clientMsgId within the dedup window (then
        nothing is written).
        """
        now_s = msg.ts // 1000
        writes: list[Any] = []
        if in_history:
            assert msg.room is not None
            item: dict[str, Any] = {
                "pk": _s(f"R#{msg.room}"),
                "sk": _s(msg.id),
                "uid": _s(msg.sender.id),
                "uname": _s(msg.sender.name),
                "ts": _n(msg.ts),
                "expiresAt": _n(now_s + self._settings.message_retention_s),
            }
            if msg.body.text is not None:
                item["text"] = _s(msg.body.text)
            if msg.body.data_json is not None:
                item["data"] = _s(msg.body.data_json)
            if msg.client_msg_id is not None:
                item["cmid"] = _s(msg.client_msg_id)
            writes.append({"Put": {"TableName": self._msgs, "Item": item}})
        if msg.client_msg_id is None:
            if writes:
                self._db.put_item(TableName=self._msgs, Item=writes[0]["Put"]["Item"])
            return None
        claim: dict[str, Any] = {
            "Put": {
                "TableName": self._msgs,
                "Item": {
                    # Two key attributes, not one joined string: user ids and
                    # clientMsgIds may hold "#", and "a"+"b#c" must not claim "a#b"+"c".
                    "pk": _s(f"D#{msg.sender.id}"),
                    "sk": _s(msg.client_msg_id),
                    "frame": _s(json.dumps(msg.frame(), separators=(",", ":"))),
                    "expiresAt": _n(now_s + self._settings.dedup_window_s),
                },
                # An expired claim that DynamoDB has not deleted yet does not count.
                "ConditionExpression": "attribute_not_exists(pk) OR expiresAt < :now",
                "ExpressionAttributeValues": {":now": _n(now_s)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        writes.append(claim)
        try:
            self._db.transact_write_items(TransactItems=writes)
            return None
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            response: dict[str, Any] = dict(exc.response)
            reasons: list[Any] = response.get("CancellationReasons") or []
            reason = reasons[-1] if reasons else {}
            if reason.get("Code") != "ConditionalCheckFailed":
                raise
            old = reason.get("Item") or self._db.get_item(
                TableName=self._msgs,
                Key={k: claim["Put"]["Item"][k] for k in ("pk", "sk")},
                ConsistentRead=True,
            ).get("Item")
            if not old:  # vanished between the two calls: report the conflict as it came
                raise
            original: dict[str, Any] = json.loads(old["frame"]["S"])
            return original

    def history(
        self, room: str, before: str | None, limit: int, now_ms: int
    ) -> tuple[list[Message], str | None]:
        """Up to `limit` messages older than `before`, oldest first, and the next cursor.

        Reads newest-first, one item more than asked, so that whether an older page
        exists is known without another call. Expired items are filtered out (the filter
        runs after DynamoDB's Limit, hence the loop).
        """
        cond = "pk = :pk"
        values: dict[str, Any] = {":pk": _s(f"R#{room}"), ":now": _n(now_ms // 1000)}
        if before is not None:
            cond += " AND sk < :before"
            values[":before"] = _s(before)
        kwargs: dict[str, Any] = {
            "TableName": self._msgs,
            "ConsistentRead": True,  # see _query_live
            "KeyConditionExpression": cond,
            "FilterExpression": "expiresAt > :now",
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        items: list[Item] = []
        while len(items) <= limit:
            resp = self._db.query(**kwargs)
            items.extend(resp.get("Items", []))
            last = resp.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        page = items[:limit]
        next_before = page[-1]["sk"]["S"] if len(items) > limit else None
        return [self._message(room, item) for item in reversed(page)], next_before

    @staticmethod
    def _message(room: str, item: Item) -> Message:
        return Message(
            id=item["sk"]["S"],
            sender=_user(item),
            body=Body(
                text=item["text"]["S"] if "text" in item else None,
                data_json=item["data"]["S"] if "data" in item else None,
            ),
            ts=int(item["ts"]["N"]),
            room=room,
            client_msg_id=item["cmid"]["S"] if "cmid" in item else None,
        )

    # -- plumbing ------------------------------------------------------------------

    def _batch_write(self, table: str, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25, resubmitting UnprocessedItems (throttling)."""
        for start in range(0, len(requests), _BATCH):
            pending: dict[str, Any] = {table: requests[start : start + _BATCH]}
            for attempt in range(8):
                resp = self._db.batch_write_item(RequestItems=pending)
                pending = dict(resp.get("UnprocessedItems") or {})
                if not pending:
                    break
                time.sleep(0.025 * 2**attempt)  # DynamoDB asks for backoff on unprocessed items
            else:
                raise RuntimeError(f"BatchWriteItem left items unprocessed on {table}")
