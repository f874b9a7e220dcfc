// The wschat web client: rooms, members, history pages, direct messages, presence, and a
// dashboard that charts `feed:` rooms. No build step and no network beyond the service.
// Text from users only ever reaches the page through textContent, never as markup.

import { LiveChart } from "./chart.js";
import { FEED_PREFIX, HISTORY_DEFAULT_LIMIT, JOIN_HISTORY, ROOM_RE } from "./protocol.js";

const params = new URLSearchParams(location.search);
const JOINED_HISTORY = JOIN_HISTORY; // recent messages the service sends with `joined`
const HISTORY_PAGE = HISTORY_DEFAULT_LIMIT;
const FEED = FEED_PREFIX;
const KEEPALIVE_MS = 5 * 60_000; // the service closes connections idle for 10 minutes
// ?backoff=SECONDS caps the reconnect delay (default 30).
const BACKOFF_MAX_MS = (Number(params.get("backoff")) || 30) * 1000;

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
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

// -- a message list: messages kept in id order (ids sort in time order) ------------------

class Log {
  constructor(key) {
    this.node = el("div", "log");
    this.node.dataset.key = key;
    this.node.hidden = true;
    this.ids = []; // sorted message ids, parallel to this.nodes
    this.nodes = [];
    $("logs").append(this.node);
  }

  has(id) {
    return this.ids.includes(id);
  }

  /** Insert `m` in id order; false when it is already shown. */
  add(m, me) {
    if (typeof m.id !== "string" || this.has(m.id)) return false;
    let i = this.ids.length;
    while (i > 0 && this.ids[i - 1] > m.id) i--;
    const node = messageNode(m, me);
    if (i === this.ids.length) this.node.append(node);
    else this.node.insertBefore(node, this.nodes[i]);
    this.ids.splice(i, 0, m.id);
    this.nodes.splice(i, 0, node);
    if (i === this.ids.length - 1) this.node.scrollTop = this.node.scrollHeight;
    return true;
  }

  system(text) {
    const line = el("div", "system");
    line.append(el("span", "msg-time", clock()), el("span", "system-text", text));
    this.node.append(line);
    this.node.scrollTop = this.node.scrollHeight;
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
  node.append(el("span", "msg-time", clock(m.ts)), who);
  if (typeof m.text === "string") node.append(el("span", "msg-text", m.text));
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
  rooms: new Map(), // name -> {name, log, members: Map, startReached, pending: [], chart}
  directs: new Map(), // user id -> {id, name, log, unread}
  current: null, // {kind: "room" | "direct", key}
  userJoin: null, // the room to switch to when its `joined` comes
  rejoining: new Set(),
  outbox: [],
  view: "chat",
};
window.wschat = state; // for the console and the browser tests

function send(frame) {
  const open = state.ws && state.ws.readyState === WebSocket.OPEN;
  if (!open || state.rejoining.size) {
    state.outbox.push(frame);
    return;
  }
  state.ws.send(JSON.stringify(frame));
}

function flushOutbox() {
  if (state.rejoining.size || !state.ws || state.ws.readyState !== WebSocket.OPEN) return;
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
}

// -- the connection ----------------------------------------------------------------------

function wsBase() {
  if (params.get("ws")) return params.get("ws");
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
}

function connect() {
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
    send({ action: "whoami" });
    const rooms = first ? initialRooms() : [...state.rooms.keys()];
    if (first) state.userJoin = rooms[0]; // the first ?room= becomes current
    state.rejoining = new Set(rooms);
    for (const room of rooms) ws.send(JSON.stringify({ action: "join", room }));
    flushOutbox();
    clearInterval(state.keepalive);
    state.keepalive = setInterval(() => send({ action: "ping" }), KEEPALIVE_MS);
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
    if (!state.everOpened) {
      // A browser cannot see the handshake's HTTP status: the likely cause is the token.
      setStatus("offline", "offline");
      showLogin("Could not connect: the token was refused (or the service is down).");
      return;
    }
    const delay = Math.min(BACKOFF_MAX_MS, state.backoffMs) * (0.8 + Math.random() * 0.4);
    state.backoffMs *= 2;
    setStatus("offline", `disconnected (${event.code}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
    setTimeout(connect, delay);
  });
}

function initialRooms() {
  const rooms = params.getAll("room").filter((r) => ROOM_RE.test(r));
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
      return message(f);
    case "direct":
      return direct(f);
    case "history":
      return history(f);
    case "members": {
      const room = state.rooms.get(f.room);
      if (room) setMembers(room, f.members);
      return;
    }
    case "whoami":
      state.me = f.user;
      setStatus("online", `online as ${f.user?.name ?? f.user?.id}`);
      return;
    case "error":
      if (f.action === "join") {
        state.rejoining.clear();
        flushOutbox();
      }
      notice(`${f.code}: ${f.message}` + (f.retryAfterMs ? ` (retry in ${(f.retryAfterMs / 1000).toFixed(1)} s)` : ""));
      return;
    case "pong":
      return;
    default:
      if (typeof f.message === "string") notice(`service: ${f.message}`);
  }
}

function joined(f) {
  const name = f.room;
  let room = state.rooms.get(name);
  const rejoin = Boolean(room);
  if (!room) room = addRoom(name);
  setMembers(room, f.members);
  const recent = Array.isArray(f.history) ? f.history : [];
  if (rejoin) {
    const newest = room.log.newest;
    const oldest = recent[0]?.id;
    if (newest && recent.length >= JOINED_HISTORY && oldest > newest) {
      // Missed more than `joined` carries: page back until the gap closes.
      request(room, "catchup", oldest, 100);
    }
    room.log.system("reconnected");
  } else {
    room.startReached = recent.length < JOINED_HISTORY;
    // Joins are answered in any order: switch to the room asked for last.
    if (!state.current || state.userJoin === name) {
      select({ kind: "room", key: name });
    }
  }
  for (const m of recent) addMessage(room, m);
  state.rejoining.delete(name);
  flushOutbox();
  renderRooms();
  renderDashboard();
}

function addRoom(name) {
  const room = { name, log: new Log(`#${name}`), members: new Map(), startReached: false, pending: [], unread: 0 };
  if (name.startsWith(FEED)) {
    const card = el("div", "chart-card");
    card.dataset.room = name;
    const canvas = el("canvas", "chart");
    canvas.dataset.room = name;
    const legend = el("ul", "legend");
    card.append(el("h3", "", name), canvas, legend);
    $("charts").append(card);
    room.card = card;
    // ?window=SECONDS: how much time the charts show (default two minutes).
    const windowMs = Number(params.get("window")) * 1000 || undefined;
    room.chart = new LiveChart(canvas, legend, { windowMs });
  }
  state.rooms.set(name, room);
  return room;
}

function left(name) {
  const room = state.rooms.get(name);
  if (!room) return;
  room.log.remove();
  room.card?.remove();
  state.rooms.delete(name);
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
  if (f.event === "join") room.members.set(f.user.id, f.user);
  else room.members.delete(f.user.id);
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

function request(room, purpose, before, limit) {
  room.pending.push(purpose);
  const frame = { action: "history", room: room.name, limit };
  if (before) frame.before = before;
  send(frame);
}

function history(f) {
  const room = state.rooms.get(f.room);
  if (!room) return;
  const purpose = room.pending.shift() ?? "page";
  const page = Array.isArray(f.messages) ? f.messages : [];
  const newestBefore = room.log.newest;
  for (const m of page) addMessage(room, m);
  if (purpose === "catchup") {
    const reached = !page.length || (newestBefore && page[0].id <= newestBefore);
    if (!reached && f.nextBefore) request(room, "catchup", f.nextBefore, 100);
    return;
  }
  if (!f.nextBefore) room.startReached = true;
  if (!page.length) room.log.node.prepend(el("div", "system", "no older messages"));
  renderHead();
}

function setMembers(room, members) {
  room.members = new Map((members || []).map((u) => [u.id, u]));
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
  const input = $("composer-input");
  input.disabled = $("send-btn").disabled = !cur || feed;
  input.placeholder = !cur ? "Join a room first" : feed ? "A feed is read-only" : cur.kind === "room" ? `Message #${cur.key}` : `Message ${cur.key}`;
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
}

function renderMembers() {
  const room = state.current?.kind === "room" ? state.rooms.get(state.current.key) : null;
  $("members-room").textContent = room ? `(${room.members.size})` : "";
  $("members").replaceChildren(
    ...(room ? [...room.members.values()] : [])
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
    }),
  );
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
  renderDashboard();
}

// -- user actions ----------------------------------------------------------------------------

function joinRoom(name) {
  name = name.trim().replace(/^#/, "");
  if (!ROOM_RE.test(name)) {
    notice(`not a room name: ${name}`);
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
  $("login-error").textContent = error;
  if (error) sessionStorage.removeItem("wschat.token"); // do not retry it on reload
}

function start(token) {
  state.token = token;
  const claims = tokenClaims(token);
  state.me = { id: claims.sub, name: claims.name || claims.sub };
  sessionStorage.setItem("wschat.token", token);
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  connect();
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
    const clientMsgId = newId(); // a resend after a reconnect is not delivered twice
    if (cur.kind === "room") send({ action: "send", room: cur.key, text, clientMsgId });
    else send({ action: "direct", to: cur.key, text, clientMsgId });
    input.value = "";
  });
  $("older-btn").addEventListener("click", () => {
    const room = state.current?.kind === "room" ? state.rooms.get(state.current.key) : null;
    if (room) request(room, "page", room.log.oldest, HISTORY_PAGE);
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
const token = params.get("token") || sessionStorage.getItem("wschat.token");
if (token) start(token);
else showLogin();
