"""DynamoDB storage: connections, memberships, messages, dedup and the rate limit.

Two tables (see docs/data-model.md for the access patterns and what each costs):

connections table                              messages table
  C#{conn} / META     the connection:            R#{room} / {messageId}  a message (history)
                      user, rooms (a set: the    D#{user} / {target}#{clientMsgId}  the dedup
                      reverse index), parts (the     claim: the message's id, whether its
                      rooms it joined in another     delivery finished (the frame itself
                      partition than the base),      for a direct message)
                      rate-limit window and count
  R#{room} / C#{conn} a membership (recipients), in the room's base partition
  R#{room}#{i} / C#{conn} a membership in partition i of a room spread over several
  R#{room} / #ROOM    the room's layout, once it spreads: how many partitions joins go
                      to and readers read (it sorts first: the base Query returns it)
  U#{user} / C#{conn} a user's connections (direct)
  P#{user} / RATE    a publisher's rate-limit window and count
  RU#{room} / U#{user} the room's users (members pages, presence): the user's
                      connections in the room as a set, so a user's first join and
                      last leave are decided by one conditional write

Every item carries a Number `expiresAt` TTL, and every read ignores expired items, since
DynamoDB deletes them only eventually and `$disconnect` is best-effort. Recipients are
found with a Query that follows LastEvaluatedKey; nothing here ever Scans.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from wschat_protocol import MAX_ROOMS_PER_CONNECTION

from . import ids
from .errors import ConnectionGone, RateLimited, TooManyRooms
from .model import Body, Connection, Member, Message, User, encode
from .settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = Mapping[str, Any]  # a DynamoDB item in the low-level (typed) JSON form

META = "META"
ROOM = "#ROOM"  # the layout item's sort key: "#" sorts before the memberships' "C#"
_BATCH = 25  # BatchWriteItem's limit
# A room's layout outlives every membership written under it by this much more than a
# connection's TTL: a join reads the layout, then writes its membership within its own
# invocation's time limit (29 s), and Lambda hosts' clocks differ by far less.
LAYOUT_MARGIN_S = 15 * 60
# The most partitions a room spreads over: 4,096 half-full partitions of the default
# size hold three million connections, and the fan-out tree reaches them in three hops.
MAX_PARTITIONS = 4096


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _conn_key(conn_id: str) -> dict[str, Any]:
    return {"pk": _s(f"C#{conn_id}"), "sk": _s(META)}


def _user(item: Item) -> User:
    return User(id=item["uid"]["S"], name=item["uname"]["S"])


def bucket(conn_id: str) -> int:
    """A connection's place among a room's partitions: the same in every process (the
    built-in hash() of a str is salted per process)."""
    return zlib.crc32(conn_id.encode())


def next_extent(estimate: int, extent: int, size: int) -> int:
    """How many partitions a room of about `estimate` connections should take joins
    into, now that it takes them into `extent` of `size` members each on average.

    It grows when the average partition passes `size`, to partitions at most half full
    (so at least doubling: a room that grows steadily changes layout once per doubling);
    it shrinks when the average falls under an eighth of `size`, back to half full (one
    partition below `size` / 2). Between the two it stays, so an estimate that wobbles
    changes nothing.
    """
    half_full = max(1, math.ceil(2 * estimate / size))
    if estimate > extent * size:
        return min(MAX_PARTITIONS, half_full)
    if extent > 1 and 8 * estimate < extent * size:
        return min(extent, half_full)
    return extent


def partition_key(room: str, index: int) -> str:
    """The partition key of a room's memberships: `R#{room}` (the base, index 0: every
    room's only partition until it spreads) or `R#{room}#{index}`. Room names hold no
    "#", so no room's partition is another room's."""
    return f"R#{room}" if index == 0 else f"R#{room}#{index}"


def _membership_key(room: str, index: int, conn_id: str) -> dict[str, Any]:
    return {"pk": _s(partition_key(room, index)), "sk": _s(f"C#{conn_id}")}


def membership_item(
    room: str, conn_id: str, user: User, write: int, expires_at: int
) -> dict[str, Any]:
    """The item a join writes: in the partition the room's layout (`write` partitions
    taking joins) gives the connection."""
    item = {
        **_membership_key(room, bucket(conn_id) % write, conn_id),
        "uid": _s(user.id),
        "uname": _s(user.name),
        "expiresAt": _n(expires_at),
    }
    if write > 1:
        item["w"] = _n(write)  # how many memberships this one stands for in estimates
    return item


def _part(room: str, index: int) -> str:
    """An entry of the connection's `parts` set: a room it joined outside the base."""
    return f"{room}#{index}"


def _parts(item: Item) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in item.get("parts", {}).get("SS", ()):
        room, _, index = entry.rpartition("#")
        out[room] = int(index)
    return out


def _room_user_key(room: str, user_id: str) -> dict[str, Any]:
    return {"pk": _s(f"RU#{room}"), "sk": _s(f"U#{user_id}")}


def _layout(item: Item) -> Layout:
    def num(name: str, default: int) -> int:
        return int(item[name]["N"]) if name in item else default

    return Layout(
        write=num("w", 1),
        old=num("r", 1),
        old_until=num("rUntil", 0),
        expires_at=num("expiresAt", 0),
        version=num("v", 1),
    )


def _cancelled_at(exc: ClientError, index: int) -> bool:
    """Whether a cancelled transaction failed on item `index`'s condition."""
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return False
    response: dict[str, Any] = dict(exc.response)
    reasons: list[Any] = response.get("CancellationReasons") or []
    return len(reasons) > index and reasons[index].get("Code") == "ConditionalCheckFailed"


def _claim_key(msg: Message) -> dict[str, Any]:
    """The dedup claim of `msg`'s clientMsgId: the sender's (partition) for the target.

    Room names cannot hold "#", so `R#{room}#` ends where the room does; a user id can,
    so the recipient's id is preceded by its length. The clientMsgId itself comes last.
    """
    assert msg.client_msg_id is not None
    if msg.room is not None:
        target = f"R#{msg.room}#"
    else:
        assert msg.to is not None
        target = f"U{len(msg.to)}#{msg.to}#"
    return {"pk": _s(f"D#{msg.sender.id}"), "sk": _s(target + msg.client_msg_id)}


@dataclass(frozen=True)
class Claim:
    """A clientMsgId already used for this target: the message it stands for."""

    frame: dict[str, Any]
    delivered: bool  # its first delivery finished


@dataclass(frozen=True)
class HistoryPage:
    """Messages oldest first, and the cursors to the pages on either side (None: nothing)."""

    messages: list[Message]
    next_before: str | None
    next_after: str | None


@dataclass(frozen=True)
class Layout:
    """Where a room's memberships are (its `#ROOM` item; no item: one partition).

    Joins go to partitions [0, `write`); readers read [0, `read_at(now)`): `write`, or a
    larger extent the room had before it shrank, until `old_until`, when every membership
    written under that extent has expired.
    """

    write: int = 1
    old: int = 1
    old_until: int = 0  # epoch s
    expires_at: int = 0  # epoch s: the item's TTL
    version: int = 0  # 0: no item

    def read_at(self, now_s: int) -> int:
        return max(self.write, self.old if now_s < self.old_until else 1)

    def partition_of(self, conn_id: str) -> int:
        return bucket(conn_id) % self.write


@dataclass(frozen=True)
class Partition:
    """One partition of a room's memberships as a fan-out reads it."""

    members: list[Member]
    # About how many connections the whole room has: each membership counts for the
    # number of partitions joins went to when it was written (its `w`), so the base
    # partition alone estimates the room. Only meaningful for the base.
    estimate: int
    layout: Layout  # read from the base partition (the default elsewhere)


@dataclass(frozen=True)
class UserPage:
    users: list[User]  # sorted by user id
    more: bool  # users after the last one exist


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

    def touch(self, conn_id: str, user: User, at_ms: int) -> Connection:
        """Count one frame against the connection's rate limit and read its record.

        The counter lives on the connection item, so the read every action needs (which
        rooms is this connection in?) and the rate-limit write are one UpdateItem. A new
        window costs a second call, at most once per window. `at_ms` places the frame
        in its window: the time the gateway received it, so a slow database does not
        crowd a steady client's frames into one window. A record that is missing means
        the connection is gone ($disconnect ran while this frame was in flight): nothing
        here recreates it (ConnectionGone).
        """
        item = self._count_in_window(
            _conn_key(conn_id),
            at_ms,
            self._settings.rate_limit,
            self._settings.rate_window_s,
            create=False,
        )
        if item is None:
            raise ConnectionGone(conn_id)
        return self._connection(conn_id, item)

    def count_publish(self, publisher_id: str, at_ms: int) -> None:
        """Count one publish against the publisher's rate limit (RateLimited past it)."""
        key = {"pk": _s(f"P#{publisher_id}"), "sk": _s("RATE")}
        window_s = self._settings.publish_rate_window_s
        self._count_in_window(key, at_ms, self._settings.publish_rate_limit, window_s, create=True)

    def _count_in_window(
        self,
        key: dict[str, Any],
        at_ms: int,
        limit: int,
        window_s: int,
        *,
        create: bool,
        _retry: bool = True,
    ) -> Item | None:
        """Add one to the count of `key`'s current fixed window (attributes `rlw`, the
        window's number, and `rlc`, its count) and return the item, or raise RateLimited
        when the window is full. With `create` False a missing item is not written
        (None is returned)."""
        window = at_ms // (window_s * 1000)
        try:
            resp = self._db.update_item(
                TableName=self._conns,
                Key=key,
                UpdateExpression="SET rlc = rlc + :one",
                ConditionExpression="rlw = :w AND rlc < :lim",
                ExpressionAttributeValues={":one": _n(1), ":w": _n(window), ":lim": _n(limit)},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            item: Item = resp["Attributes"]
            return item
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # ReturnValuesOnConditionCheckFailure puts the old item beside the error.
            response: dict[str, Any] = dict(exc.response)
            old: dict[str, Any] | None = response.get("Item")
        if not old and not create:
            return None
        if old and int(old.get("rlw", {}).get("N", -1)) == window:
            retry = (window + 1) * window_s * 1000 - at_ms
            raise RateLimited(f"rate limit: {limit} per {window_s} s", max(retry, 1))
        # A new window (or, with `create`, no item yet): start counting again.
        cond = "attribute_not_exists(rlw) OR rlw <> :w"
        values: dict[str, Any] = {":w": _n(window), ":one": _n(1)}
        update = "SET rlw = :w, rlc = :one"
        if create:
            update += ", expiresAt = :exp"
            values[":exp"] = _n((window + 2) * window_s)
        else:
            cond = f"attribute_exists(uid) AND ({cond})"
        try:
            resp = self._db.update_item(
                TableName=self._conns,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=cond,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            response = dict(exc.response)
            if not response.get("Item") and not create:
                return None  # removed meanwhile
            if not _retry:
                raise
            # Another frame of this connection (they run concurrently) opened the window
            # first: count this one against it.
            return self._count_in_window(key, at_ms, limit, window_s, create=create, _retry=False)
        new: Item = resp["Attributes"]
        return new

    @staticmethod
    def _connection(conn_id: str, item: Item) -> Connection:
        rooms = frozenset(item.get("rooms", {}).get("SS", ()))
        return Connection(conn_id, _user(item), rooms, _parts(item))

    def remove_connection(self, conn_id: str) -> tuple[Connection | None, list[str]]:
        """Delete a connection and every membership it had ($disconnect, or gone in a fan-out).

        Returns what was deleted (None when it was already gone) and the rooms where that
        was the user's last connection, so the caller can tell them.
        """
        resp = self._db.delete_item(
            TableName=self._conns, Key=_conn_key(conn_id), ReturnValues="ALL_OLD"
        )
        old = resp.get("Attributes")
        if not old:
            return None, []
        rooms = sorted(old.get("rooms", {}).get("SS", ()))
        parts = _parts(old)
        keys = [_membership_key(room, parts.get(room, 0), conn_id) for room in rooms]
        if "uid" not in old:
            # A record holding only `rooms`, from a join that landed after $disconnect:
            # no user to announce or to unindex, but its memberships go all the same.
            if keys:
                self._batch_write(self._conns, [{"DeleteRequest": {"Key": k}} for k in keys])
            return None, []
        conn = self._connection(conn_id, old)
        keys.append({"pk": _s(f"U#{conn.user.id}"), "sk": _s(f"C#{conn_id}")})
        self._batch_write(self._conns, [{"DeleteRequest": {"Key": k}} for k in keys])
        last = [room for room in rooms if self._leave_room_index(conn_id, conn.user.id, room)]
        return conn, last

    def drop_gone(
        self, conn_id: str, room: str | None = None, partition: int = 0
    ) -> tuple[User | None, list[str]]:
        """A delivery found the connection gone (410): remove it and its memberships.

        The membership the fan-out came through (`room`'s `partition`) is deleted even
        when the connection record is already gone, so an orphan cannot be found by the
        next fan-out. Returns the connection's user and the rooms it was the user's last
        connection in.
        """
        conn, last = self.remove_connection(conn_id)
        if room is None or (
            conn is not None and room in conn.rooms and conn.partition(room) == partition
        ):
            return (conn.user if conn else None), last
        resp = self._db.delete_item(
            TableName=self._conns,
            Key=_membership_key(room, partition, conn_id),
            ReturnValues="ALL_OLD",
        )
        orphan = resp.get("Attributes")
        if not orphan or "uid" not in orphan:
            return (conn.user if conn else None), last
        user = _user(orphan)
        if self._leave_room_index(conn_id, user.id, room):
            last.append(room)
        return user, last

    # -- rooms ---------------------------------------------------------------------

    def add_membership(self, conn_id: str, user: User, room: str, now_ms: int) -> bool:
        """Join: the room's list, the connection's set and the room's user index, in one
        transaction. True when this is the user's first connection in the room.

        The membership goes to the partition the room's layout gives this connection
        (the base, while the room has one partition); the connection's `parts` set
        remembers any other, for leave and `$disconnect`. The user index item holds the
        user's connections in the room; the first attempt creates it on the condition
        that it holds none (or has expired), so of two joins racing for one user exactly
        one is first. A user already there takes a second attempt that adds the
        connection unconditionally. Of two joins of one connection racing into one room,
        one writes and the other finds the room in the connection's set: the connection
        has one membership of the room, in one partition.
        """
        layout = self._layout_for_join(room, now_ms)
        index = layout.partition_of(conn_id)
        exp = _n(self._conn_expiry(now_ms))
        item = membership_item(room, conn_id, user, layout.write, self._conn_expiry(now_ms))
        membership = {"Put": {"TableName": self._conns, "Item": item}}
        values: dict[str, Any] = {
            ":r": {"SS": [room]},
            ":most": _n(MAX_ROOMS_PER_CONNECTION),
            ":room": _s(room),
        }
        update = "ADD rooms :r"
        if index:
            update += ", parts :p"
            values[":p"] = {"SS": [_part(room, index)]}
        rooms = {
            "Update": {
                "TableName": self._conns,
                "Key": _conn_key(conn_id),
                "UpdateExpression": update,
                # Only a connection that still exists joins (a frame handled after
                # $disconnect must not bring it back), only once, and only into its
                # 100th room.
                "ConditionExpression": (
                    "attribute_exists(uid) AND NOT contains(rooms, :room) AND "
                    "(attribute_not_exists(rooms) OR size(rooms) < :most)"
                ),
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        first_user = {
            "Update": {
                "TableName": self._conns,
                "Key": _room_user_key(room, user.id),
                "UpdateExpression": "SET conns = :c, uid = :uid, uname = :uname, expiresAt = :exp",
                "ConditionExpression": "attribute_not_exists(conns) OR expiresAt < :now",
                "ExpressionAttributeValues": {
                    ":c": {"SS": [conn_id]},
                    ":uid": _s(user.id),
                    ":uname": _s(user.name),
                    ":exp": exp,
                    ":now": _n(now_ms // 1000),
                },
            }
        }
        try:
            self._transact([membership, rooms, first_user])
            return True
        except ClientError as exc:
            if self._refused_join(exc, conn_id, room):
                return False
            if not _cancelled_at(exc, 2):
                raise
        another = {
            "Update": {
                "TableName": self._conns,
                "Key": _room_user_key(room, user.id),
                "UpdateExpression": "ADD conns :c SET uid = :uid, uname = :uname, expiresAt = :exp",
                "ExpressionAttributeValues": {
                    ":c": {"SS": [conn_id]},
                    ":uid": _s(user.id),
                    ":uname": _s(user.name),
                    ":exp": exp,
                },
            }
        }
        try:
            self._transact([membership, rooms, another])
        except ClientError as exc:
            if self._refused_join(exc, conn_id, room):
                return False
            raise
        return False

    @staticmethod
    def _refused_join(exc: ClientError, conn_id: str, room: str) -> bool:
        """Raise what a join cancelled on the connection's condition means, or return
        True when it means the connection is in the room already (a racing join)."""
        if not _cancelled_at(exc, 1):
            return False
        response: dict[str, Any] = dict(exc.response)
        old = response["CancellationReasons"][1].get("Item") or {}
        if "uid" not in old:
            raise ConnectionGone(conn_id) from None
        if room in old.get("rooms", {}).get("SS", ()):
            return True
        raise TooManyRooms() from None

    def remove_membership(self, conn_id: str, user_id: str, room: str, partition: int = 0) -> bool:
        """Leave: both sides of the membership (in the room's `partition`), then the user
        index. True when it was the user's last connection in the room."""
        update = "DELETE rooms :r"
        values: dict[str, Any] = {":r": {"SS": [room]}}
        if partition:
            update += ", parts :p"
            values[":p"] = {"SS": [_part(room, partition)]}
        self._transact(
            [
                {
                    "Delete": {
                        "TableName": self._conns,
                        "Key": _membership_key(room, partition, conn_id),
                    }
                },
                {
                    "Update": {
                        "TableName": self._conns,
                        "Key": _conn_key(conn_id),
                        "UpdateExpression": update,
                        "ExpressionAttributeValues": values,
                    }
                },
            ]
        )
        return self._leave_room_index(conn_id, user_id, room)

    def _leave_room_index(self, conn_id: str, user_id: str, room: str) -> bool:
        """Take the connection out of the room's user index; True when none is left.

        DynamoDB drops a set that DELETE empties, so "no `conns`" is "nobody left"; the
        item goes only on that condition, so a join landing in between keeps it.
        """
        key = _room_user_key(room, user_id)
        try:
            resp = self._db.update_item(
                TableName=self._conns,
                Key=key,
                UpdateExpression="DELETE conns :c",
                ConditionExpression="contains(conns, :id)",
                ExpressionAttributeValues={":c": {"SS": [conn_id]}, ":id": _s(conn_id)},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False  # not there (already removed by a concurrent cleanup): not ours to tell
        if "conns" in resp.get("Attributes", {}):
            return False
        try:
            self._db.delete_item(
                TableName=self._conns, Key=key, ConditionExpression="attribute_not_exists(conns)"
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return True

    # -- room layout (docs/architecture.md, "Rooms past one partition") --------------

    def read_partition(self, room: str, index: int, now_ms: int) -> Partition:
        """The live memberships of one partition of the room: a Query that follows
        LastEvaluatedKey. The base partition (0) also holds the room's layout item, which
        sorts first: a room of one partition is read with the one Query it always took."""
        members: list[Member] = []
        estimate = 0
        layout = Layout()
        for item in self._query_live(self._conns, partition_key(room, index), now_ms):
            sk = item["sk"]["S"]
            if sk == ROOM:
                layout = _layout(item)
                continue
            members.append(Member(connection_id=sk[2:], user=_user(item)))
            estimate += int(item["w"]["N"]) if "w" in item else 1
        return Partition(members, estimate, layout)

    def room_members(self, room: str, now_ms: int) -> list[Member]:
        """Every live connection in the room, from every partition it is spread over."""
        base = self.read_partition(room, 0, now_ms)
        members = list(base.members)
        for index in range(1, base.layout.read_at(now_ms // 1000)):
            members.extend(self.read_partition(room, index, now_ms).members)
        return members

    def room_layout(self, room: str, now_ms: int) -> Layout:
        """The room's layout item (strongly consistent GetItem; 1 RRU), or the layout of
        a room of one partition when there is none or it has expired."""
        item = self._db.get_item(
            TableName=self._conns,
            Key={"pk": _s(partition_key(room, 0)), "sk": _s(ROOM)},
            ConsistentRead=True,
        ).get("Item")
        if item is None or int(item["expiresAt"]["N"]) <= now_ms // 1000:
            return Layout()
        return _layout(item)

    def _layout_for_join(self, room: str, now_ms: int) -> Layout:
        """The layout a join writes its membership under, kept alive past the membership.

        A membership outside the base must be read for as long as it lives (a
        connection's TTL), so the layout item must outlive it: when less than that (plus
        a margin) is left, the join extends it first, by a connection's TTL more, so that
        happens about once a TTL per room. Should the item have expired in between, the
        join falls back to the base partition, which every reader reads.
        """
        layout = self.room_layout(room, now_ms)
        now_s = now_ms // 1000
        ttl = self._settings.connection_ttl_s
        if layout.write == 1 or layout.expires_at >= now_s + ttl + LAYOUT_MARGIN_S:
            return layout
        expires = now_s + 2 * ttl + LAYOUT_MARGIN_S
        try:
            self._db.update_item(
                TableName=self._conns,
                Key={"pk": _s(partition_key(room, 0)), "sk": _s(ROOM)},
                UpdateExpression="SET expiresAt = :e",
                ConditionExpression="expiresAt > :now",
                ExpressionAttributeValues={":e": _n(expires), ":now": _n(now_s)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return Layout()
        return Layout(layout.write, layout.old, layout.old_until, expires, layout.version)

    def resize(self, room: str, base: Partition, now_ms: int) -> int | None:
        """After a read of the room's base partition: spread the room further, or less,
        when its estimated size calls for it (`next_extent`). The partitions joins now go
        to, or None when that stays (or another reader changed the layout first)."""
        seen = base.layout
        write = next_extent(base.estimate, seen.write, self._settings.room_partition_size)
        if write == seen.write or not self.set_layout(room, seen, write, now_ms):
            return None
        return write

    def set_layout(self, room: str, seen: Layout, write: int, now_ms: int) -> bool:
        """Make joins go to `write` partitions from now on, if the layout is still `seen`
        (another reader may have changed it first: then nothing is written, False).

        Readers never read fewer partitions than a live membership may be in: growing
        only widens what they read, and shrinking keeps the old extent read (`old`) until
        every membership written under it has expired (a connection's TTL, plus the
        margin for a join that read the layout just before).
        """
        now_s = now_ms // 1000
        ttl = self._settings.connection_ttl_s
        values: dict[str, Any] = {":w": _n(write), ":v": _n(seen.version + 1)}
        sets = ["w = :w", "v = :v"]
        expires = seen.expires_at
        if write > 1:
            expires = max(expires, now_s + 2 * ttl + LAYOUT_MARGIN_S)
        if write < seen.write:
            old_until = now_s + ttl + LAYOUT_MARGIN_S
            sets += ["r = :r", "rUntil = :until"]
            values[":r"] = _n(seen.read_at(now_s))
            values[":until"] = _n(old_until)
            expires = max(expires, old_until)
        sets.append("expiresAt = :e")
        values[":e"] = _n(expires)
        update = "SET " + ", ".join(sets)
        if seen.version:
            condition = "v = :seen"
            values[":seen"] = _n(seen.version)
        else:
            # No item, or one that expired (all its memberships with it): start afresh.
            condition = "attribute_not_exists(v) OR expiresAt <= :now"
            values[":now"] = _n(now_s)
            if "r = :r" not in sets:
                update += " REMOVE r, rUntil"
        try:
            self._db.update_item(
                TableName=self._conns,
                Key={"pk": _s(partition_key(room, 0)), "sk": _s(ROOM)},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def room_users(
        self, room: str, after: str | None, limit: int, now_ms: int, budget: int
    ) -> UserPage:
        """A page of the room's users by id from the room's user index (one item per
        user, however many connections): at most `limit`, and no more than fit in
        `budget` bytes of JSON."""
        items, more = self._page(
            self._conns,
            f"RU#{room}",
            None if after is None else ("sk > :cursor", f"U#{after}"),
            forward=True,
            limit=limit,
            now_ms=now_ms,
        )
        users = [_user(item) for item in items]
        kept = _fit(users, lambda u: u.to_json(), budget)
        return UserPage(users[:kept], more or kept < len(users))

    def count_room_users(self, room: str, now_ms: int) -> int:
        """How many users the room has: a COUNT Query of its user index (reads every item:
        ~100 B per user, so ⌈users / 40⌉ RRU)."""
        kwargs: dict[str, Any] = {
            "TableName": self._conns,
            "ConsistentRead": True,
            "Select": "COUNT",
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "expiresAt > :now",
            "ExpressionAttributeValues": {":pk": _s(f"RU#{room}"), ":now": _n(now_ms // 1000)},
        }
        total = 0
        while True:
            resp = self._db.query(**kwargs)
            total += resp.get("Count", 0)
            last = resp.get("LastEvaluatedKey")
            if not last:
                return total
            kwargs["ExclusiveStartKey"] = last

    def count_user_connections(self, user_id: str, now_ms: int) -> int:
        """How many live connections the user has: a COUNT Query of `U#{user}` (~1 RRU)."""
        resp = self._db.query(
            TableName=self._conns,
            ConsistentRead=True,
            Select="COUNT",
            KeyConditionExpression="pk = :pk",
            FilterExpression="expiresAt > :now",
            ExpressionAttributeValues={":pk": _s(f"U#{user_id}"), ":now": _n(now_ms // 1000)},
        )
        count: int = resp.get("Count", 0)
        return count

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

    def save_message(self, msg: Message, *, in_history: bool) -> Claim | None:
        """Store a message (room messages go to history) and claim its clientMsgId.

        The claim is the sender's and the target's (room, or direct recipient): the same
        clientMsgId to another target is another message. With a clientMsgId the
        history write and the claim are one transaction, so dedup adds no round trip.
        Returns None for a new message, or the claim this user already holds for that
        clientMsgId and target within the dedup window (then nothing is written).
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
        claim_item: dict[str, Any] = {
            **_claim_key(msg),
            "mid": _s(msg.id),
            "expiresAt": _n(now_s + self._settings.dedup_window_s),
        }
        if not in_history:
            # A direct message is not stored anywhere else: the claim keeps it for a
            # retry to answer with (a room message is read back from the history).
            claim_item["frame"] = _s(encode(msg.frame()))
        claim: dict[str, Any] = {
            "Put": {
                "TableName": self._msgs,
                "Item": claim_item,
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
            if not _cancelled_at(exc, len(writes) - 1):
                raise
            response: dict[str, Any] = dict(exc.response)
            old = response["CancellationReasons"][-1].get("Item") or self._db.get_item(
                TableName=self._msgs, Key=_claim_key(msg), ConsistentRead=True
            ).get("Item")
            if not old:  # vanished between the two calls: report the conflict as it came
                raise
            original = self._claimed_frame(msg, old)
            if original is None:
                raise
            return Claim(frame=original, delivered="delivered" in old)

    def _claimed_frame(self, msg: Message, claim: Item) -> dict[str, Any] | None:
        if "frame" in claim:
            frame: dict[str, Any] = json.loads(claim["frame"]["S"])
            return frame
        assert msg.room is not None
        item = self._db.get_item(
            TableName=self._msgs,
            Key={"pk": _s(f"R#{msg.room}"), "sk": claim["mid"]},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else self._message(msg.room, item).frame()

    def mark_delivered(self, msg: Message) -> None:
        """Record on its claim that `msg`'s delivery finished, so a retry of its
        clientMsgId answers with the message and delivers nothing again."""
        try:
            self._db.update_item(
                TableName=self._msgs,
                Key=_claim_key(msg),
                UpdateExpression="SET delivered = :yes",
                ConditionExpression="attribute_exists(pk)",  # never recreate an expired claim
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def history(
        self,
        room: str,
        before: str | None,
        after: str | None,
        limit: int,
        now_ms: int,
        budget: int,
    ) -> HistoryPage:
        """A page of up to `limit` messages, oldest first, within `budget` bytes of JSON.

        No cursor: the newest. `before`: the newest older than it. `after`: the oldest
        newer than it. Each page reads one item more than it returns, so whether the
        next page in its own direction exists is known without another call; the other
        direction costs one more small Query (the newest page has nothing newer).
        Expired items are filtered out (the filter runs after DynamoDB's Limit, hence
        the loop in `_page`).
        """
        pk = f"R#{room}"
        forward = after is not None
        if forward:
            assert after is not None
            cond: tuple[str, str] | None = ("sk > :cursor", after)
        else:
            cond = None if before is None else ("sk < :cursor", before)
        items, more = self._page(self._msgs, pk, cond, forward=forward, limit=limit, now_ms=now_ms)
        # Read nearest-first: keep the nearest messages that fit the budget.
        page = [self._message(room, item) for item in items]
        kept = _fit(page, lambda m: m.frame(), budget)
        more = more or kept < len(page)
        page = page[:kept]
        if not forward:
            page.reverse()
            next_before = page[0].id if more and page else None
            if before is None:
                next_after = None  # the newest page: nothing newer
            elif page:
                newer = self._exists(pk, "sk > :cursor", page[-1].id, now_ms)
                next_after = page[-1].id if newer else None
            else:
                # Nothing older than `before`: the newer side starts at `before` itself.
                start = ids.predecessor(before)
                exists = self._exists(pk, "sk >= :cursor", before, now_ms)
                next_after = start if exists else None
            return HistoryPage(page, next_before, next_after)
        assert after is not None
        next_after = page[-1].id if more and page else None
        if page:
            older = self._exists(pk, "sk < :cursor", page[0].id, now_ms)
            next_before = page[0].id if older else None
        else:
            end = ids.successor(after)
            next_before = end if self._exists(pk, "sk <= :cursor", after, now_ms) else None
        return HistoryPage(page, next_before, next_after)

    def _exists(self, pk: str, cond: str, cursor: str, now_ms: int) -> bool:
        forward = ">" in cond
        items, _ = self._page(
            self._msgs, pk, (cond, cursor), forward=forward, limit=1, now_ms=now_ms
        )
        return bool(items)

    def _page(
        self,
        table: str,
        pk: str,
        cond: tuple[str, str] | None,
        *,
        forward: bool,
        limit: int,
        now_ms: int,
    ) -> tuple[list[Item], bool]:
        """Up to `limit` live items of partition `pk` from its start (`forward`) or end,
        beyond the cursor condition, and whether more exist: reads `limit` + 1."""
        key = "pk = :pk"
        values: dict[str, Any] = {":pk": _s(pk), ":now": _n(now_ms // 1000)}
        if cond is not None:
            key += " AND " + cond[0]
            values[":cursor"] = _s(cond[1])
        kwargs: dict[str, Any] = {
            "TableName": table,
            "ConsistentRead": True,  # see _query_live
            "KeyConditionExpression": key,
            "FilterExpression": "expiresAt > :now",
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
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
        return items[:limit], len(items) > limit

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

    def _transact(self, items: list[Any]) -> None:
        """TransactWriteItems, retried when another transaction on the same items was in
        flight (TransactionConflict: botocore does not retry it, DynamoDB asks to)."""
        for attempt in range(6):
            try:
                self._db.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                response: dict[str, Any] = dict(exc.response)
                reasons: list[Any] = response.get("CancellationReasons") or []
                codes = {r.get("Code") for r in reasons}
                if "TransactionConflict" not in codes or "ConditionalCheckFailed" in codes:
                    raise
                if attempt == 5:
                    raise
                time.sleep(0.01 * 2**attempt)

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


def _fit(values: list[Any], frame: Any, budget: int) -> int:
    """How many of `values`, from the first, fit in `budget` bytes as compact JSON (at
    least one: a single message or user always fits an API Gateway message)."""
    used = 0
    for count, value in enumerate(values):
        used += len(encode(frame(value)).encode()) + 1
        if used > budget and count > 0:
            return count
    return len(values)
