// The wschat web client: rooms, members, history pages, direct messages, presence, and a
// dashboard that charts `feed:` rooms. No build step and no network beyond the service.
// Text from users only ever reaches the page through textContent (links too: their href
// is set only for http(s) URLs), never as markup.
//
// Nothing is lost: sends carry a clientMsgId and stay on screen marked "sending" until the
// service echoes them; those refused by the rate limit go again after retryAfterMs, those
// typed offline (or swallowed by a dropped connection) go again once the rooms are joined
// again, with the same id, so the service stores each once. After a reconnect every room
// pages forward (`history` `after`) from a few seconds before the newest message it has
// seen, to the end, dropping duplicates by id.

import { FeedChart } from "./feedchart.js";
import {
  FEED_PREFIX, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, IDLE_TIMEOUT_S, JOIN_HISTORY, ROOM_RULE,
  catchUpCursor, validRoom,
} from "./protocol.js";

const params = new URLSearchParams(location.search);
const JOINED_HISTORY = JOIN_HISTORY; // recent messages the service sends with `joined`
const HISTORY_PAGE = HISTORY_DEFAULT_LIMIT;
const CATCHUP_PAGE = HISTORY_MAX_LIMIT;
const FEED = FEED_PREFIX;
const KEEPALIVE_MS = (IDLE_TIMEOUT_S * 1000) / 2; // the service closes idle connections
// ?backoff=SECONDS caps the reconnect delay (default 30).
const BACKOFF_MAX_MS = (Number(params.get("backoff")) || 30) * 1000;
const LINK_RE = /\bhttps?:\/\/[^\s<>"']+/gi;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(ts) {
  const at = new Date(ts ?? Date.now());
  const time = at.toLocaleTimeString([], { hour12: false });
  return at.toDateString() === new Date().toDateString()
    ? time
    : `${at.toLocaleDateString()} ${time}`;
}

function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** Why `token` cannot work, as a person should read it; "" when it may. */
function tokenProblem(token, claims = tokenClaims(token)) {
  if (!claims) return "That is not a token (a JWT has three parts separated by dots).";
  if (typeof claims.exp !== "number") return "The token has no expiry (exp): the service refuses those.";
  if (claims.exp * 1000 <= Date.now()) {
    return `The token expired at ${new Date(claims.exp * 1000).toLocaleString()}. Get a new one.`;
  }
  return "";
}

/** `text` as nodes: plain text, with http(s) URLs as links (never markup). */
function linkified(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(LINK_RE)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, ""); // trailing punctuation is prose
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
    } catch {
      href = null;
    }
    if (href) {
      const a = el("a", "", url);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      nodes.push(a);
    } else {
      nodes.push(document.createTextNode(url));
    }
    last = match.index + url.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

// -- a message list: messages kept in id order (ids sort in time order) ------------------

class Log {
  constructor(key) {
    this.node = el("div", "log");
    this.node.dataset.key = key;
    this.node.hidden = true;
    this.entries = el("div", "entries");
    this.outgoing = el("div", "outgoing"); // my messages not acked yet, below the rest
    this.node.append(this.entries, this.outgoing);
    this.ids = []; // sorted message ids, parallel to this.nodes
    this.nodes = [];
    this.seen = new Set();
    this.pending = new Map(); // clientMsgId -> node
    $("logs").append(this.node);
  }

  has(id) {
    return this.seen.has(id);
  }

  atBottom() {
    const n = this.node;
    return n.scrollHeight - n.scrollTop - n.clientHeight < 40;
  }

  stick(wasAtBottom) {
    if (wasAtBottom) this.node.scrollTop = this.node.scrollHeight;
  }

  /** Insert `m` in id order; false when it is already shown. */
  add(m, me) {
    if (typeof m.id !== "string" || this.has(m.id)) return false;
    const bottom = this.atBottom();
    let i = this.ids.length;
    while (i > 0 && this.ids[i - 1] > m.id) i--;
    const node = messageNode(m, me);
    if (i === this.ids.length) this.entries.append(node);
    else this.entries.insertBefore(node, this.nodes[i]);
    this.ids.splice(i, 0, m.id);
    this.nodes.splice(i, 0, node);
    this.seen.add(m.id);
    if (typeof m.clientMsgId === "string") this.settle(m.clientMsgId);
    this.stick(bottom || m.from?.id === me);
    return true;
  }

  /** Show an outgoing message until the service echoes it. */
  addPending(clientMsgId, text, me) {
    const node = messageNode({ id: "", from: me, text }, me?.id);
    node.classList.add("pending");
    node.dataset.clientMsgId = clientMsgId;
    node.append(el("span", "msg-state", "sending…"));
    this.outgoing.append(node);
    this.pending.set(clientMsgId, node);
    this.node.scrollTop = this.node.scrollHeight;
  }

  markPending(clientMsgId, label, kind) {
    const node = this.pending.get(clientMsgId);
    if (!node) return;
    node.querySelector(".msg-state").textContent = label;
    node.dataset.state = kind;
  }

  settle(clientMsgId) {
    this.pending.get(clientMsgId)?.remove();
    this.pending.delete(clientMsgId);
  }

  system(text) {
    const bottom = this.atBottom();
    const line = el("div", "system");
    line.append(el("span", "msg-time", clock()), el("span", "system-text", text));
    this.entries.append(line);
    this.stick(bottom);
  }

  note(text) {
    this.entries.prepend(el("div", "system", text));
  }

  get oldest() {
    return this.ids[0] ?? null;
  }

  get newest() {
    return this.ids[this.ids.length - 1] ?? null;
  }

  remove() {
    this.node.remove();
  }
}

function messageNode(m, me) {
  const node = el("div", "msg");
  node.dataset.id = m.id;
  const from = m.from || {};
  if (from.id === me) node.classList.add("mine");
  const who = el("span", "msg-from", from.name || from.id || "?");
  who.title = from.id || "";
  node.append(el("span", "msg-time", m.ts ? clock(m.ts) : ""), who);
  if (typeof m.text === "string") {
    const text = el("span", "msg-text");
    text.append(...linkified(m.text));
    node.append(text);
  }
  if (m.data !== undefined) node.append(el("code", "msg-data", JSON.stringify(m.data)));
  return node;
}

// -- state -------------------------------------------------------------------------------

const state = {
  token: null,
  me: null, // {id, name}
  ws: null,
  everOpened: false,
  backoffMs: 500,
  rooms: new Map(), // name -> {name, log, members, memberCount, startReached, catchingUp, chart}
  directs: new Map(), // user id -> {id, name, log, unread}
  current: null, // {kind: "room" | "direct", key}
  userJoin: null, // the room to switch to when its `joined` comes
  rejoining: new Set(),
  outbox: [], // frames other than sends, waiting for the connection
  unacked: new Map(), // clientMsgId -> {frame, log, attempt}
  attempts: 0, // sends so far: orders them against rate-limit refusals
  refusedUpto: 0,
  resendTimer: null,
  history: { inflight: null, queue: [], timer: null }, // one `history` request at a time
  stats: { rateLimited: 0, resent: 0 },
  view: "chat",
};
window.wschat = state; // for the console and the browser tests

function online() {
  return Boolean(state.ws && state.ws.readyState === WebSocket.OPEN && !state.rejoining.size);
}

function send(frame) {
  if (!online()) {
    state.outbox.push(frame);
    return;
  }
  state.ws.send(JSON.stringify(frame));
}

function flushOutbox() {
  if (!online()) return;
  // What may not have reached the service goes again first: it is older.
  for (const [cmid, item] of state.unacked) transmit(cmid, item);
  const frames = state.outbox.splice(0);
  for (const frame of frames) state.ws.send(JSON.stringify(frame));
}

function notice(text, kind = "error") {
  const box = $("notice");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => (box.hidden = true), 6000);
}

function setStatus(kind, text) {
  $("status").dataset.state = kind;
  $("status").textContent = text;
  $("status").title = text;
}

// -- sending, until acked ----------------------------------------------------------------

function submit(target, text) {
  const clientMsgId = newId();
  const frame = target.kind === "room"
    ? { action: "send", room: target.key, text, clientMsgId }
    : { action: "direct", to: target.key, text, clientMsgId };
  const log = target.kind === "room" ? state.rooms.get(target.key)?.log : state.directs.get(target.key)?.log;
  if (!log) return;
  log.addPending(clientMsgId, text, state.me);
  const item = { frame, log, attempt: 0 };
  state.unacked.set(clientMsgId, item);
  if (online()) transmit(clientMsgId, item);
  else log.markPending(clientMsgId, "waiting for the connection", "offline");
}

function transmit(clientMsgId, item) {
  item.attempt = ++state.attempts;
  item.log.markPending(clientMsgId, "sending…", "sending");
  state.ws.send(JSON.stringify(item.frame));
}

function acked(frame) {
  const cmid = frame.clientMsgId;
  if (typeof cmid !== "string" || frame.from?.id !== state.me?.id) return;
  const item = state.unacked.get(cmid);
  if (!item) return;
  state.unacked.delete(cmid);
  item.log.settle(cmid);
}

function rateLimited(retryMs) {
  // The error does not say which send it refused: any sent so far may have been.
  state.stats.rateLimited++;
  state.refusedUpto = state.attempts;
  const delay = Math.max(0, retryMs ?? 1000);
  for (const [cmid, item] of state.unacked) {
    item.log.markPending(cmid, `rate limited: retrying in ${(delay / 1000).toFixed(1)} s`, "limited");
  }
  if (state.resendTimer) return;
  state.resendTimer = setTimeout(() => {
    state.resendTimer = null;
    if (!online()) return; // the reconnect sends everything again
    const upto = state.refusedUpto;
    for (const [cmid, item] of state.unacked) {
      if (item.attempt <= upto) {
        state.stats.resent++;
        transmit(cmid, item);
      }
    }
  }, delay);
}

// -- history requests, one at a time (answers do not say which request they answer) ------

function askHistory(room, purpose, cursor, limit, first = false) {
  const frame = { action: "history", room: room.name, limit };
  if (cursor?.before) frame.before = cursor.before;
  if (cursor?.after) frame.after = cursor.after;
  const req = { room: room.name, purpose, frame };
  const h = state.history;
  if (!h.inflight) {
    h.inflight = req;
    send(frame);
  } else if (first) {
    h.queue.unshift(req);
  } else {
    h.queue.push(req);
  }
}

function nextHistory() {
  const h = state.history;
  h.inflight = null;
  while (h.queue.length) {
    const req = h.queue.shift();
    if (state.rooms.has(req.room)) {
      h.inflight = req;
      send(req.frame);
      return;
    }
  }
}

// -- the connection ----------------------------------------------------------------------

function wsBase() {
  if (params.get("ws")) return params.get("ws");
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
}

function connect() {
  const problem = tokenProblem(state.token);
  if (problem) {
    setStatus("offline", "offline");
    showLogin(problem);
    return;
  }
  const base = wsBase();
  const url = `${base}${base.includes("?") ? "&" : "?"}token=${encodeURIComponent(state.token)}`;
  setStatus("connecting", "connecting…");
  const ws = new WebSocket(url);
  state.ws = ws;
  ws.addEventListener("open", () => {
    const first = !state.everOpened;
    state.everOpened = true;
    state.backoffMs = 500;
    setStatus("online", `online as ${state.me?.name ?? "…"}`);
    ws.send(JSON.stringify({ action: "whoami" }));
    const rooms = first ? initialRooms() : [...state.rooms.keys()];
    if (first) state.userJoin = rooms[0]; // the first ?room= becomes current
    // In-flight history requests died with the old connection; catch-ups are planned again.
    const h = state.history;
    clearTimeout(h.timer);
    h.queue = h.queue.filter((r) => r.purpose === "page");
    if (h.inflight?.purpose === "page") h.queue.unshift(h.inflight);
    h.inflight = null;
    state.rejoining = new Set(rooms);
    for (const room of rooms) ws.send(JSON.stringify({ action: "join", room }));
    flushOutbox();
    clearInterval(state.keepalive);
    state.keepalive = setInterval(() => send({ action: "ping" }), KEEPALIVE_MS);
    renderHead();
  });
  ws.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && typeof frame === "object") handle(frame);
  });
  ws.addEventListener("close", (event) => {
    if (state.ws !== ws) return;
    clearInterval(state.keepalive);
    state.rejoining.clear();
    for (const [cmid, item] of state.unacked) item.log.markPending(cmid, "waiting for the connection", "offline");
    const problem = tokenProblem(state.token);
    if (problem) {
      // Expired during the session: reconnecting cannot help.
      setStatus("offline", "offline");
      showLogin(problem);
      return;
    }
    if (!state.everOpened) {
      // A browser cannot see the handshake's HTTP status; the token looked valid here.
      setStatus("offline", "offline");
      showLogin("The service refused this token (its signature, issuer or audience does not match what the service expects), or the service is down.");
      return;
    }
    const delay = Math.min(BACKOFF_MAX_MS, state.backoffMs) * (0.8 + Math.random() * 0.4);
    state.backoffMs *= 2;
    setStatus("offline", `disconnected (${event.code}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
    renderHead();
    setTimeout(connect, delay);
  });
}

function initialRooms() {
  const rooms = params.getAll("room").filter((r) => validRoom(r));
  return rooms.length ? rooms : ["general"];
}

// -- service frames ----------------------------------------------------------------------

function handle(f) {
  switch (f.type) {
    case "joined":
      return joined(f);
    case "left":
      return left(f.room);
    case "presence":
      return presence(f);
    case "message":
      acked(f);
      return message(f);
    case "direct":
      acked(f);
      return direct(f);
    case "history":
      return historyPage(f);
    case "members": {
      const room = state.rooms.get(f.room);
      if (room) {
        for (const u of f.members || []) room.members.set(u.id, u);
        if (!f.nextAfter) room.memberCount = Math.max(room.memberCount ?? 0, room.members.size);
        if (isCurrent("room", room.name)) renderMembers();
      }
      return;
    }
    case "whoami":
      state.me = f.user;
      setStatus("online", `online as ${f.user?.name ?? f.user?.id}`);
      return;
    case "error":
      return error(f);
    case "pong":
      return;
    default:
      if (typeof f.message === "string") notice(`service: ${f.message}`);
  }
}

function error(f) {
  if (f.code === "rate_limited" && (f.action === "send" || f.action === "direct")) {
    return rateLimited(f.retryAfterMs);
  }
  if (f.action === "history" && state.history.inflight) {
    if (f.code === "rate_limited") {
      const req = state.history.inflight;
      state.history.timer = setTimeout(() => send(req.frame), Math.max(0, f.retryAfterMs ?? 1000));
      return;
    }
    const room = state.rooms.get(state.history.inflight.room);
    if (room) room.catchingUp = false;
    nextHistory();
  }
  if (f.action === "join") {
    state.rejoining.clear();
    flushOutbox();
  }
  notice(`${f.code}: ${f.message}` + (f.retryAfterMs ? ` (retry in ${(f.retryAfterMs / 1000).toFixed(1)} s)` : ""));
}

function joined(f) {
  const name = f.room;
  let room = state.rooms.get(name);
  const rejoin = Boolean(room);
  if (!room) room = addRoom(name);
  setMembers(room, f.members, f.memberCount);
  const recent = (Array.isArray(f.history) ? f.history : []).filter((m) => typeof m?.id === "string");
  // Only the service says where the room starts (a page with nextBefore null); ask again.
  room.startReached = false;
  if (rejoin) {
    const cursor = catchUpCursor(room.log.newest);
    // `joined` carries the room's newest messages: a full set that does not reach back
    // to the cursor leaves a gap, closed by paging forward from the cursor.
    room.catchingUp = recent.length >= JOINED_HISTORY && recent[0].id > cursor;
    if (room.catchingUp) askHistory(room, "catchup", { after: cursor }, CATCHUP_PAGE);
    room.log.system("reconnected");
  } else if (!state.current || state.userJoin === name) {
    // Joins are answered in any order: switch to the room asked for last.
    select({ kind: "room", key: name });
  }
  for (const m of recent) addMessage(room, m);
  state.rejoining.delete(name);
  flushOutbox();
  renderRooms();
  renderHead();
  renderDashboard();
}

function addRoom(name) {
  const room = {
    name, log: new Log(`#${name}`), members: new Map(), memberCount: 0,
    startReached: false, catchingUp: false, unread: 0,
  };
  if (name.startsWith(FEED)) {
    const card = el("div", "chart-card");
    card.dataset.room = name;
    const chart = el("div", "chart");
    chart.dataset.room = name;
    card.append(el("h3", "", name), chart);
    $("charts").append(card);
    room.card = card;
    // ?window=SECONDS: how much time the charts show (default two minutes).
    const windowMs = Number(params.get("window")) * 1000 || undefined;
    room.chart = new FeedChart(chart, { windowMs });
  }
  state.rooms.set(name, room);
  return room;
}

function left(name) {
  const room = state.rooms.get(name);
  if (!room) return;
  room.log.remove();
  room.chart?.destroy();
  room.card?.remove();
  state.rooms.delete(name);
  for (const [cmid, item] of state.unacked) if (item.log === room.log) state.unacked.delete(cmid);
  if (state.current?.kind === "room" && state.current.key === name) {
    const next = state.rooms.keys().next().value;
    select(next ? { kind: "room", key: next } : null);
  }
  renderRooms();
  renderDashboard();
}

function addMessage(room, m) {
  if (!room.log.add(m, state.me?.id)) return false;
  if (room.chart && m.data !== undefined) room.chart.add(m.ts ?? Date.now(), m.data);
  return true;
}

function message(m) {
  const room = state.rooms.get(m.room);
  if (!room || !addMessage(room, m)) return;
  // Unread counts matter in the chat view; the dashboard shows feeds as they come.
  if (!isCurrent("room", room.name) && !(room.chart && state.view === "dashboard")) {
    room.unread++;
    renderRooms();
  }
}

function presence(f) {
  const room = state.rooms.get(f.room);
  if (!room || !f.user) return;
  const name = f.user.name || f.user.id;
  if (f.event === "join") {
    if (!room.members.has(f.user.id)) room.memberCount++;
    room.members.set(f.user.id, f.user);
  } else {
    room.memberCount = Math.max(0, room.memberCount - 1);
    room.members.delete(f.user.id);
  }
  room.log.system(`${name} ${f.event === "join" ? "joined" : "left"}`);
  if (isCurrent("room", room.name)) renderMembers();
}

function direct(m) {
  const mine = m.from?.id === state.me?.id;
  const otherId = mine ? m.to : m.from?.id;
  if (!otherId) return;
  const convo = ensureDirect(otherId, mine ? undefined : m.from?.name);
  if (!convo.log.add(m, state.me?.id)) return;
  if (!isCurrent("direct", otherId)) convo.unread++;
  renderRooms();
}

function ensureDirect(id, name) {
  let convo = state.directs.get(id);
  if (!convo) {
    convo = { id, name: name || id, log: new Log(`@${id}`), unread: 0 };
    state.directs.set(id, convo);
  } else if (name) {
    convo.name = name;
  }
  return convo;
}

function historyPage(f) {
  const req = state.history.inflight;
  if (!req || req.room !== f.room) return; // not what we asked (an old connection's)
  const room = state.rooms.get(f.room);
  if (!room) return nextHistory();
  const page = (Array.isArray(f.messages) ? f.messages : []).filter((m) => typeof m?.id === "string");
  for (const m of page) addMessage(room, m);
  if (req.purpose === "catchup") {
    state.history.inflight = null;
    if (f.nextAfter && page.length) {
      askHistory(room, "catchup", { after: f.nextAfter }, CATCHUP_PAGE, true);
      return;
    }
    room.catchingUp = false;
    renderHead();
    return nextHistory();
  }
  if (!f.nextBefore) {
    room.startReached = true;
    room.log.note("no older messages");
  }
  renderHead();
  nextHistory();
}

function setMembers(room, members, count) {
  room.members = new Map((members || []).map((u) => [u.id, u]));
  room.memberCount = Number.isInteger(count) ? count : room.members.size;
  if (isCurrent("room", room.name)) renderMembers();
}

// -- rendering -----------------------------------------------------------------------------

function isCurrent(kind, key) {
  return state.current?.kind === kind && state.current.key === key;
}

function currentLog() {
  if (!state.current) return null;
  const { kind, key } = state.current;
  return kind === "room" ? state.rooms.get(key)?.log : state.directs.get(key)?.log;
}

function select(target) {
  for (const log of document.querySelectorAll("#logs .log")) log.hidden = true;
  state.current = target;
  if (target) {
    const item = target.kind === "room" ? state.rooms.get(target.key) : state.directs.get(target.key);
    if (item) item.unread = 0;
    const log = currentLog();
    if (log) {
      log.node.hidden = false;
      log.node.scrollTop = log.node.scrollHeight;
    }
  }
  drawer(false);
  renderRooms();
  renderMembers();
  renderHead();
}

function renderHead() {
  const cur = state.current;
  const room = cur?.kind === "room" ? state.rooms.get(cur.key) : null;
  const feed = Boolean(room?.name.startsWith(FEED));
  $("room-title").textContent = !cur ? "no room" : cur.kind === "room" ? `#${cur.key}` : `direct: ${state.directs.get(cur.key)?.name ?? cur.key}`;
  $("leave-btn").hidden = !room;
  $("older-btn").hidden = !room || room.startReached;
  $("older-btn").disabled = Boolean(room?.catchingUp);
  const input = $("composer-input");
  // Typing stays possible offline: the message waits, marked, and goes when back.
  input.disabled = $("send-btn").disabled = !cur || feed;
  input.placeholder = !cur ? "Join a room first" : feed ? "A feed is read-only"
    : `Message ${cur.kind === "room" ? "#" : ""}${cur.key}${online() ? "" : " (offline: sent when back)"}`;
}

function listItem(label, count, active, onClick, onClose) {
  const item = el("li", active ? "active" : "");
  const button = el("button", "pick", label);
  button.type = "button";
  button.addEventListener("click", onClick);
  item.append(button);
  if (count) item.append(el("span", "badge", String(count)));
  if (onClose) {
    const close = el("button", "close", "×");
    close.type = "button";
    close.title = "leave";
    close.setAttribute("aria-label", `leave ${label}`);
    close.addEventListener("click", onClose);
    item.append(close);
  }
  return item;
}

function renderRooms() {
  $("rooms").replaceChildren(
    ...[...state.rooms.values()].map((room) => {
      const item = listItem(`#${room.name}`, room.unread, isCurrent("room", room.name), () => select({ kind: "room", key: room.name }), () => send({ action: "leave", room: room.name }));
      item.dataset.room = room.name;
      return item;
    }),
  );
  $("directs").replaceChildren(
    ...[...state.directs.values()].map((c) => {
      const item = listItem(c.name, c.unread, isCurrent("direct", c.id), () => select({ kind: "direct", key: c.id }));
      item.dataset.user = c.id;
      return item;
    }),
  );
  const unread = [...state.rooms.values(), ...state.directs.values()].reduce((n, r) => n + (r.unread || 0), 0);
  $("menu-badge").textContent = unread ? String(unread) : "";
  $("menu-badge").hidden = !unread;
}

function renderMembers() {
  const room = state.current?.kind === "room" ? state.rooms.get(state.current.key) : null;
  $("members-room").textContent = room ? `(${room.memberCount})` : "";
  const users = (room ? [...room.members.values()] : [])
    .sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id))
    .map((user) => {
      const item = el("li", "member");
      item.dataset.user = user.id;
      const name = el("span", "member-name", user.name || user.id);
      name.title = user.id;
      item.append(name);
      if (user.id !== state.me?.id) {
        const dm = el("button", "dm", "DM");
        dm.type = "button";
        dm.title = `direct message to ${user.id}`;
        dm.addEventListener("click", () => {
          ensureDirect(user.id, user.name);
          select({ kind: "direct", key: user.id });
          $("composer-input").focus();
        });
        item.append(dm);
      }
      return item;
    });
  const more = room ? room.memberCount - room.members.size : 0;
  if (more > 0) users.push(el("li", "member more", `and ${more} more`));
  $("members").replaceChildren(...users);
}

function renderDashboard() {
  const feeds = [...state.rooms.values()].filter((r) => r.chart);
  $("no-feeds").hidden = feeds.length > 0;
  if (state.view === "dashboard") for (const room of feeds) room.chart.draw();
}

function setView(view) {
  state.view = view;
  $("chat-view").hidden = view !== "chat";
  $("dashboard-view").hidden = view !== "dashboard";
  $("view-chat").classList.toggle("active", view === "chat");
  $("view-dashboard").classList.toggle("active", view === "dashboard");
  drawer(false);
  renderDashboard();
}

/** On a phone the sidebar is a drawer over the page. */
function drawer(open) {
  document.body.classList.toggle("drawer-open", open);
  $("menu-btn").setAttribute("aria-expanded", String(open));
}

// -- user actions ----------------------------------------------------------------------------

function joinRoom(name) {
  name = name.trim().replace(/^#/, "");
  if (!validRoom(name)) {
    notice(`not a room name: ${name} (${ROOM_RULE})`);
    return;
  }
  if (state.rooms.has(name)) {
    select({ kind: "room", key: name });
    return;
  }
  state.userJoin = name;
  send({ action: "join", room: name });
}

function showLogin(error = "") {
  $("login").hidden = false;
  $("app").hidden = true;
  $("logout").hidden = true;
  $("menu-btn").hidden = true;
  $("login-error").textContent = error;
  if (error) sessionStorage.removeItem("wschat.token"); // do not retry it on reload
}

function start(token) {
  const claims = tokenClaims(token);
  const problem = tokenProblem(token, claims);
  if (problem) {
    showLogin(problem);
    return;
  }
  state.token = token;
  state.me = { id: claims.sub, name: claims.name || claims.sub };
  sessionStorage.setItem("wschat.token", token);
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("menu-btn").hidden = false;
  connect();
}

/** A token handed over in the address (#token=… from `make run`'s link, or ?token=…),
 * then removed from it: the address bar, history and bookmarks should not keep it. */
function tokenFromAddress() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token") || params.get("token");
  if (!token) return null;
  fragment.delete("token");
  const query = new URLSearchParams(location.search);
  query.delete("token");
  const search = query.toString() ? `?${query}` : "";
  const hash = fragment.toString() ? `#${fragment}` : "";
  history.replaceState(null, "", `${location.pathname}${search}${hash}`);
  return token;
}

function wire() {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (token) {
      state.everOpened = false;
      start(token);
    }
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem("wschat.token");
    location.href = location.pathname;
  });
  $("menu-btn").addEventListener("click", () => drawer(!document.body.classList.contains("drawer-open")));
  $("scrim").addEventListener("click", () => drawer(false));
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    joinRoom($("join-input").value);
    $("join-input").value = "";
  });
  $("watch-form").addEventListener("submit", (event) => {
    event.preventDefault();
    let name = $("watch-input").value.trim();
    if (name && !name.startsWith(FEED)) name = FEED + name;
    joinRoom(name);
    $("watch-input").value = "";
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("composer-input");
    const text = input.value;
    const cur = state.current;
    if (!text.trim() || !cur) return;
    submit(cur, text);
    input.value = "";
  });
  $("older-btn").addEventListener("click", () => {
    const room = state.current?.kind === "room" ? state.rooms.get(state.current.key) : null;
    if (room && !room.catchingUp) askHistory(room, "page", { before: room.log.oldest }, HISTORY_PAGE);
  });
  $("leave-btn").addEventListener("click", () => {
    if (state.current?.kind === "room") send({ action: "leave", room: state.current.key });
  });
  $("view-chat").addEventListener("click", () => setView("chat"));
  $("view-dashboard").addEventListener("click", () => setView("dashboard"));
  window.addEventListener("resize", () => renderDashboard());
}

wire();
setView(params.get("view") === "dashboard" ? "dashboard" : "chat");
renderHead();
const token = tokenFromAddress() || sessionStorage.getItem("wschat.token");
if (token) start(token);
else showLogin();
