// Generated from wschat_protocol (python -m wschat_protocol.web): do not edit.
// The chat protocol's facts, one source for the service, the clients and the tests.

export const ACTIONS = Object.freeze(["join", "leave", "send", "history", "members", "direct", "whoami", "ping"]);
export const FRAME_TYPES = Object.freeze(["joined", "left", "presence", "message", "direct", "history", "members", "whoami", "pong", "error"]);
export const ERROR_CODES = Object.freeze(["bad_request", "unknown_action", "invalid_room", "too_large", "not_member", "read_only", "rate_limited", "user_offline", "too_many_rooms", "internal"]);
export const FEED_PREFIX = "feed:";
export const MAX_ROOMS_PER_CONNECTION = 100;
export const MAX_TEXT_CHARS = 4000;
export const MAX_DATA_BYTES = 32768;
export const MAX_CLIENT_MSG_ID_CHARS = 64;
export const MAX_USER_ID_CHARS = 128;
export const DEDUP_WINDOW_S = 300;
export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 100;
export const JOIN_HISTORY = 20;
export const JOINED_MAX_MEMBERS = 100;
export const MEMBERS_DEFAULT_LIMIT = 1000;
export const MEMBERS_MAX_LIMIT = 1000;
export const MAX_MESSAGE_BYTES = 131072;
export const IDLE_TIMEOUT_S = 600;
export const ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const ID_LENGTH = 26;
export const ID_TIME_CHARS = 10;
export const FIRST_ID = "00000000000000000000000000";
export const CATCH_UP_MARGIN_MS = 5000;
export const ROOM_RULE = "1-64 characters: letters, digits and _ . : - (starting with a letter or digit)";
export const ROOM_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export function validRoom(name) {
  return typeof name === "string" && ROOM_RE.test(name);
}

export function isFeed(room) {
  return room.startsWith(FEED_PREFIX);
}

// The lowest id of millisecond `ms`: `after` it are the messages from `ms` on.
export function idAt(ms) {
  let value = Math.max(Math.floor(ms), 0);
  let out = "";
  for (let i = 0; i < ID_TIME_CHARS; i++) {
    out = ID_ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out + ID_ALPHABET[0].repeat(ID_LENGTH - ID_TIME_CHARS);
}

export function isMessageId(value) {
  return (
    typeof value === "string" &&
    value.length === ID_LENGTH &&
    [...value].every((c) => ID_ALPHABET.includes(c)) &&
    "01234567".includes(value[0])
  );
}

export function idTimestampMs(id) {
  let value = 0;
  for (const c of id.slice(0, ID_TIME_CHARS)) {
    value = value * 32 + ID_ALPHABET.indexOf(c);
  }
  return value;
}

// Where a reconnecting client starts paging a room forward (`after`): a few seconds
// before the last id it saw there, or the room's first message when it saw none;
// drop duplicates by id.
export function catchUpCursor(lastSeenId, marginMs = CATCH_UP_MARGIN_MS) {
  if (!isMessageId(lastSeenId)) return FIRST_ID;
  return idAt(idTimestampMs(lastSeenId) - marginMs);
}
