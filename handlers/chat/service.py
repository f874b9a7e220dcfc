"""The chat itself: what each action does, in terms of storage and deliveries.

Knows nothing of Lambda: handlers hand it a connection id, the authenticated user and a
parsed command, and get back the frame to answer the sender with (sent as the route
response) plus what was delivered to everybody else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wschat_protocol import MAX_MESSAGE_BYTES, MAX_ROOMS_PER_CONNECTION

from . import commands as c
from .errors import ChatError, NotMember, TooManyConnections, TooManyRooms, UserOffline
from .fanout import Deliveries
from .ids import new_id
from .model import Body, Message, User, encode
from .shards import HandOff, Shard, split, split_range
from .store import Partition, Store

# Every answer fits one API Gateway message (128 KB); pages stop short of it, leaving room
# for the frame's own fields.
REPLY_BUDGET_BYTES = MAX_MESSAGE_BYTES - 2048


class Deliverer(Protocol):
    def deliver(self, connection_ids: Collection[str], payload: str) -> Deliveries: ...


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Outcome:
    reply: dict[str, Any] | None  # the frame for the sender's own connection
    deliveries: Deliveries = field(default_factory=Deliveries)
    stored: int = 0  # messages written
    # The room partitions this invocation read, as (index, memberships read), in order:
    # logged by the fan-out function, so a spread room's fan-out can be checked to read
    # each partition once, each by its own invocation (bench.fanout does).
    reads: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Sharding:
    """How room fan-outs are spread over invocations: the partitions of a spread room go
    to `hand_off` as ranges, and a partition (or room) of over `size` recipients is cut
    into shards of `size` connection ids, all but one handed off too."""

    hand_off: HandOff
    size: int


class ChatService:
    def __init__(
        self,
        store: Store,
        deliverer: Deliverer,
        clock: Callable[[], int] | None = None,
        sharding: Sharding | None = None,
        presence_max_users: int = 0,
        max_connections_per_user: int = 0,
    ) -> None:
        self._store = store
        self._deliverer = deliverer
        self._clock = clock or (lambda: now_ms())
        self._sharding = sharding
        self._presence_max_users = presence_max_users  # 0: presence in rooms of any size
        self._max_connections_per_user = max_connections_per_user  # 0: no cap

    # -- connection lifecycle ------------------------------------------------------

    def connect(self, conn_id: str, user: User) -> None:
        """Remember the connection, unless its user already has as many as allowed.

        Counted then written: handshakes of one user racing each other may pass the cap
        by as many as race. Connections that died without `$disconnect` count until a
        delivery finds them gone or they expire.
        """
        now = self._clock()
        cap = self._max_connections_per_user
        if cap and self._store.count_user_connections(user.id, now) >= cap:
            raise TooManyConnections(f"user {user.id!r} already has {cap} connections")
        self._store.put_connection(conn_id, user, now)

    def disconnect(self, conn_id: str) -> Outcome:
        """Forget the connection; tell each room it was in when the user is gone from it."""
        out = Outcome(reply=None)
        conn, last = self._store.remove_connection(conn_id)
        if conn is not None:
            for room in last:
                self._announce(out, room, "leave", conn.user, conn_id)
        return out

    # -- actions -------------------------------------------------------------------

    def handle(
        self,
        conn_id: str,
        user: User,
        command: c.Command | ChatError,
        received_ms: int | None = None,
    ) -> Outcome:
        """One frame of a connection: counted against its rate limit whatever it holds (a
        malformed frame, given here as the error parsing it raised, costs as much as any
        other), then done. `received_ms`, when the gateway received it, places it in its
        rate-limit window."""
        now = self._clock()
        at = now if received_ms is None else min(received_ms, now)
        conn = self._store.touch(conn_id, user, at)
        if isinstance(command, ChatError):
            raise command
        out = Outcome(reply=None)
        match command:
            case c.Join(room):
                first = False
                if room not in conn.rooms:
                    if len(conn.rooms) >= MAX_ROOMS_PER_CONNECTION:
                        raise TooManyRooms()
                    first = self._store.add_membership(conn_id, user, room, now)
                # After the membership is written, never before: see _post.
                history = self._store.history(
                    room, None, None, c.JOIN_HISTORY, now, REPLY_BUDGET_BYTES // 2
                ).messages
                users, count = self._joined_members(room, user, now)
                if first:
                    self._announce(out, room, "join", user, conn_id, count)
                out.reply = {
                    "type": "joined",
                    "room": room,
                    "members": [u.to_json() for u in users],
                    "memberCount": count,
                    "history": [m.frame() for m in history],
                }
            case c.Leave(room):
                if room in conn.rooms and self._store.remove_membership(
                    conn_id, user.id, room, conn.partition(room)
                ):
                    self._announce(out, room, "leave", user, conn_id)
                out.reply = {"type": "left", "room": room}
            case c.Send(room, body, client_msg_id):
                self._require_member(conn.rooms, room)
                msg = Message(new_id(now), user, body, now, room=room, client_msg_id=client_msg_id)
                out.reply = self._post(out, msg, conn_id)
            case c.History(room, before, limit, after):
                self._require_member(conn.rooms, room)
                page = self._store.history(room, before, after, limit, now, REPLY_BUDGET_BYTES)
                out.reply = {
                    "type": "history",
                    "room": room,
                    "messages": [m.frame() for m in page.messages],
                    "nextBefore": page.next_before,
                    "nextAfter": page.next_after,
                }
            case c.Members(room, after, limit):
                self._require_member(conn.rooms, room)
                listed = self._store.room_users(room, after, limit, now, REPLY_BUDGET_BYTES)
                out.reply = {
                    "type": "members",
                    "room": room,
                    "members": [u.to_json() for u in listed.users],
                    "nextAfter": listed.users[-1].id if listed.more and listed.users else None,
                }
            case c.Direct(to, body, client_msg_id):
                out.reply = self._direct(out, conn_id, user, to, body, client_msg_id, now)
            case c.WhoAmI():
                out.reply = {
                    "type": "whoami",
                    "connectionId": conn_id,
                    "user": user.to_json(),
                    "rooms": sorted(conn.rooms),
                }
            case c.Ping():
                out.reply = {"type": "pong"}
        return out

    def _joined_members(self, room: str, user: User, now: int) -> tuple[list[User], int]:
        """`joined.members` and `memberCount`: the room's users when there are at most
        100, else the joiner and 99 others; a feed's viewers see only themselves."""
        cap = c.JOINED_MAX_MEMBERS
        page = self._store.room_users(room, None, cap, now, REPLY_BUDGET_BYTES // 2)
        count = len(page.users) if not page.more else self._store.count_room_users(room, now)
        if c.is_feed(room):
            return [user], max(count, 1)
        users = page.users
        if all(u.id != user.id for u in users):  # past the first page, or not yet visible
            users = sorted([user, *users[: cap - 1]], key=lambda u: u.id)
            count = max(count, len(users))
        return users, count

    def publish(
        self, room: str, publisher: User, body: Body, received_ms: int | None = None
    ) -> tuple[str, Outcome]:
        """The publish API: store and deliver to every member. Returns the message id.
        Counted against the publisher's rate limit first (RateLimited past it)."""
        now = self._clock()
        self._store.count_publish(publisher.id, now if received_ms is None else received_ms)
        out = Outcome(reply=None)
        msg = Message(new_id(now), publisher, body, now, room=room)
        self._post(out, msg, None)
        return msg.id, out

    # -- pieces --------------------------------------------------------------------

    @staticmethod
    def _require_member(rooms: frozenset[str], room: str) -> None:
        if room not in rooms:
            raise NotMember(f"join '{room}' first")

    def _post(
        self,
        out: Outcome,
        msg: Message,
        sender_conn: str | None,
        direct_to: Callable[[], Iterable[str]] | None = None,
    ) -> dict[str, Any]:
        """Store `msg` and deliver it; a repeated clientMsgId returns the original, unsent.

        A repeated clientMsgId (same sender, same target) answers with the original, and
        delivers it again only if the first attempt's delivery did not finish.

        A room message goes to the room's members; a direct one to `direct_to()`. The
        recipients are read after the message is stored, never before (each partition of
        a spread room by the invocation that delivers it, later still). A join adds its
        membership and then reads the history, so a join racing this send either finds
        the message in that history or is among the recipients. Read the other way
        round, a join between the read and the store got neither.
        """
        claim = self._store.save_message(msg, in_history=msg.room is not None)
        if claim is not None and claim.delivered:
            return claim.frame  # a retry of a message delivered already: only the ack
        # New, or stored by an attempt whose delivery did not finish (the invocation
        # died, or ran out of time): deliver it, under its original id.
        frame = msg.frame() if claim is None else claim.frame
        if claim is None:
            out.stored += 1
        failed = out.deliveries.failed
        # The sender's own connection gets the message as its route response (the ack).
        if msg.room is not None:
            self._fan_out(out, msg.room, frame, skip=sender_conn)
        else:
            assert direct_to is not None
            targets = {cid for cid in direct_to() if cid != sender_conn}
            self._deliver(out, targets, encode(frame), room=None)
        if msg.client_msg_id is not None and out.deliveries.failed == failed:
            self._store.mark_delivered(msg)
        return frame

    def _direct(
        self,
        out: Outcome,
        conn_id: str,
        user: User,
        to: str,
        body: Body,
        client_msg_id: str | None,
        now: int,
    ) -> dict[str, Any]:
        targets = set(self._store.user_connections(to, now))
        if not targets:
            raise UserOffline(f"user '{to}' has no open connection")
        own = targets if to == user.id else set(self._store.user_connections(user.id, now))
        msg = Message(new_id(now), user, body, now, to=to, client_msg_id=client_msg_id)
        before = len(out.deliveries.gone)
        frame = self._post(out, msg, conn_id, direct_to=lambda: targets | own)
        gone = set(out.deliveries.gone[before:])
        # A new message (not a dedup replay) none of whose recipients on `to`'s side was live.
        remote = targets - {conn_id}
        if frame.get("id") == msg.id and remote and remote <= gone:
            raise UserOffline(f"user '{to}' has no open connection")
        return frame

    def _announce(
        self,
        out: Outcome,
        room: str,
        event: str,
        user: User,
        conn_id: str,
        count: int | None = None,
    ) -> None:
        """Tell the room's other connections that `user` came (first connection) or went
        (last one). Never in a feed; not past the presence cap, when one is set."""
        if c.is_feed(room):
            return
        cap = self._presence_max_users
        if cap:
            if count is None:  # a leave: the room as it was, with the user who left
                count = self._store.count_room_users(room, self._clock()) + 1
            if count > cap:
                return
        frame = {"type": "presence", "room": room, "event": event, "user": user.to_json()}
        self._fan_out(out, room, frame, skip=conn_id)

    def deliver_shard(
        self,
        room: str,
        payload: str,
        *,
        connection_ids: Sequence[str] = (),
        partition: int = 0,
        partitions: tuple[int, int] | None = None,
        skip: str | None = None,
    ) -> Outcome:
        """The fan-out function's work: one shard of a room's fan-out, handed off to it:
        either a list of connections (read from the room's `partition`) or the members
        of the room's partitions [first, end) but `skip`. Of a range it hands the rest
        on (`_hand_off_range`) and reads and delivers the first partition itself."""
        out = Outcome(reply=None)
        if partitions is None:
            self._deliver_here(out, connection_ids, payload, room, partition)
            return out
        first, end = partitions
        self._hand_off_range(out, room, payload, first + 1, end, skip)
        self._deliver_partition(out, room, first, payload, skip)
        return out

    def _fan_out(self, out: Outcome, room: str, frame: dict[str, Any], skip: str | None) -> None:
        """Deliver `frame` to every member of `room` but `skip`.

        One Query of the room's base partition reads its members and the room's layout.
        A room spread over several partitions has the others handed off as ranges (they
        are read by the invocations that deliver them); the base members are delivered
        here. Then, having read the base, this is where the room's layout grows or
        shrinks (`Store.resize`), off the delivery's critical path.
        """
        payload = encode(frame)
        now = self._clock()
        base = self._store.read_partition(room, 0, now)
        out.reads.append((0, len(base.members)))
        extent = base.layout.read_at(now // 1000)
        self._hand_off_range(out, room, payload, 1, extent, skip)
        if extent > 1:
            # Those members are on their way, through other invocations: about as many
            # as the base says the room has, less the base's own.
            out.deliveries.handed_off += max(0, base.estimate - len(base.members))
        self._deliver_members(out, base, room, 0, payload, skip)
        self._store.resize(room, base, now)

    def _hand_off_range(
        self, out: Outcome, room: str, payload: str, first: int, end: int, skip: str | None
    ) -> None:
        """Partitions [first, end) of `room`, to other invocations as up to
        `shards.BRANCHES` ranges; any range that cannot be handed off is read and
        delivered here, partition by partition (slower, not lost)."""
        ranges = split_range(first, end)
        if not ranges:
            return
        kept = list(range(len(ranges)))
        if self._sharding is not None:
            shards = [Shard(room, payload, partitions=r, skip=skip) for r in ranges]
            kept = self._sharding.hand_off.hand_off(shards)
        for i in kept:
            for index in range(*ranges[i]):
                self._deliver_partition(out, room, index, payload, skip)

    def _deliver_partition(
        self, out: Outcome, room: str, index: int, payload: str, skip: str | None
    ) -> None:
        part = self._store.read_partition(room, index, self._clock())
        out.reads.append((index, len(part.members)))
        self._deliver_members(out, part, room, index, payload, skip)

    def _deliver_members(
        self,
        out: Outcome,
        part: Partition,
        room: str,
        index: int,
        payload: str,
        skip: str | None,
    ) -> None:
        targets = {m.connection_id for m in part.members if m.connection_id != skip}
        self._deliver(out, targets, payload, room=room, partition=index)

    def _deliver(
        self,
        out: Outcome,
        targets: set[str],
        payload: str,
        room: str | None,
        partition: int = 0,
    ) -> None:
        """Deliver to `targets`: in a room, past `Sharding.size` of them, all but the
        first shard of connection ids are handed off. `partition`: the room's partition
        they were read from."""
        if not targets:
            return
        recipients: Sequence[str] = sorted(targets)
        sharding = self._sharding
        # Only room fan-outs are split: a direct message goes to a user's few connections
        # and its sender needs to know at once whether any of them was live.
        if room is not None and sharding is not None and len(recipients) > sharding.size:
            own, *others = split(recipients, sharding.size)
            shards = [Shard(room, payload, tuple(s), partition) for s in others]
            kept = set(sharding.hand_off.hand_off(shards))
            out.deliveries.handed_off += sum(len(s) for i, s in enumerate(others) if i not in kept)
            # A shard that could not be handed off is delivered here: slower, not lost.
            recipients = own + [cid for i in sorted(kept) for cid in others[i]]
        self._deliver_here(out, recipients, payload, room, partition)

    def _deliver_here(
        self,
        out: Outcome,
        recipients: Sequence[str],
        payload: str,
        room: str | None,
        partition: int,
    ) -> None:
        result = self._deliverer.deliver(recipients, payload)
        out.deliveries.merge(result)
        # Every gone connection is removed before any room is told, so the `leave`
        # frames below are not posted to the very connections this delivery found gone.
        departures = [
            self._store.drop_gone(gone, room=room, partition=partition) for gone in result.gone
        ]
        for (user, last), gone in zip(departures, result.gone, strict=True):
            for left in last:
                if user is not None:
                    self._announce(out, left, "leave", user, gone)
