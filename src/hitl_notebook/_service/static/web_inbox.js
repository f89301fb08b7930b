// The web inbox: the notebook's inbox widget (hitl.js) in a plain page, with a model that speaks
// HTTP where anywidget's speaks to a kernel (see hitl_notebook/_service/http_inbox.py).
//
// WebModel gives hitl.js what anywidget gives it: get/set/on/off/save_changes/send and the
// "msg:custom" messages. Each message the widget sends is posted to inbox/messages with the
// page's filter and page number; the server replies with what the widget's kernel side would
// send. The kernel side keeps the page and sends patches; here the server keeps nothing, so the
// model keeps the page and turns each new snapshot into the widget's patch (selections and open
// panels stay). It asks again every POLL_MS, so answers given elsewhere show without a reload.
//
// The token: from a #token= link (then dropped from the address bar and the history) or pasted
// in the form, kept in sessionStorage (this tab only), sent as a bearer token, never in a URL.
// Nothing but the form shows until the server accepts the token.

import widget from "./hitl.js";

const TOKEN_KEY = "hitl-inbox-token";
const POLL_MS = 1500;
const READ_EVERY = 40; // a refresh in 40 reads the page whatever its cursor says (every minute)
const MESSAGES = new URL("../messages", import.meta.url);

const $ = (id) => document.getElementById(id);

class Refused extends Error {}

async function call(token, body) {
  let response;
  try {
    response = await fetch(MESSAGES, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    throw new Error("the server did not answer");
  }
  if (response.status === 401) throw new Refused("not accepted");
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(data?.detail?.message || `the server answered ${response.status}`);
  return data;
}

class WebModel {
  constructor(token, identity, onRefused) {
    this.token = token;
    this.state = { view: "inbox", responder: identity };
    this.handlers = new Map();
    this.onRefused = onRefused;
    this.query = {};
    this.page = 0;
    this.shown = null; // the rows drawn: id -> the row as JSON, in order
    this.total = 0;
    this.agents = "[]";
    this.generation = 0; // bumped by each hello or query: older snapshots are dropped
    this.cursor = null; // what the last page was read at: a refresh sends it, "nothing changed?"
    this.refreshes = 0;
    this.broken = false;
    this.timer = null;
  }

  get(key) { return this.state[key]; }
  set(key, value) {
    if (this.state[key] === value) return;
    this.state[key] = value;
    this.emit(`change:${key}`, value);
  }
  save_changes() {}
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
  }
  off(event, fn) {
    if (fn === undefined) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(fn);
  }
  emit(event, ...args) {
    for (const fn of [...(this.handlers.get(event) || [])]) fn(...args);
  }

  send(msg) {
    const fresh = msg.type === "hello" || msg.type === "query";
    if (fresh) this.generation += 1;
    if (msg.type === "query") {
      this.query = { ...this.query, ...(msg.query || {}) };
      this.page = msg.page || 0;
    }
    this.post(msg, fresh);
  }

  async post(msg, fresh) {
    const generation = this.generation;
    let reply;
    try {
      // Without a cursor now and then: see READ_AT_LEAST_EVERY_S in inbox_widget.py.
      this.refreshes += 1;
      const cursor = msg.type === "hello" && !fresh && this.refreshes % READ_EVERY !== 0 ? this.cursor : null;
      reply = await call(this.token, { message: msg, query: this.query, page: this.page, cursor });
    } catch (error) {
      if (error instanceof Refused) { this.stop(); this.onRefused(); return; }
      this.broken = true;
      const about = msg.type === "hello" && !fresh ? "Could not refresh" : `${msg.type} failed`;
      this.emit("msg:custom", { type: "notice", message: `${about}: ${error.message}; trying again.` });
      return;
    }
    if (this.broken) { this.broken = false; this.emit("msg:custom", { type: "notice", message: "" }); }
    this.set("responder", reply.identity);
    if (reply.cursor !== null && generation === this.generation) this.cursor = reply.cursor;
    for (const m of reply.messages) {
      if (m.type !== "snapshot") this.emit("msg:custom", m);
      else if (generation === this.generation) this.show(m, fresh);
    }
  }

  // A snapshot as the widget's kernel side would send it: whole after a hello or a query, as
  // a patch of what changed otherwise (nothing when nothing did).
  show(snap, fresh) {
    const rows = new Map(snap.rows.map((row) => [row.id, JSON.stringify(row)]));
    const agents = JSON.stringify(snap.agents);
    const before = this.shown;
    const sameOrder = before !== null && [...before.keys()].join("\n") === [...rows.keys()].join("\n");
    const upsert = before === null ? [] : snap.rows.filter((row) => before.get(row.id) !== rows.get(row.id));
    const remove = before === null ? [] : [...before.keys()].filter((id) => !rows.has(id));
    const changed = upsert.length || remove.length || !sameOrder || snap.total !== this.total || agents !== this.agents || snap.page !== this.page;
    const agentsChanged = agents !== this.agents;
    Object.assign(this, { shown: rows, total: snap.total, agents, query: snap.query, page: snap.page });
    if (fresh || before === null) { this.emit("msg:custom", snap); return; }
    if (!changed) return;
    const patch = { type: "patch", upsert, remove, order: [...rows.keys()], total: snap.total, page: snap.page, now_ms: snap.now_ms };
    if (agentsChanged) patch.agents = snap.agents;
    this.emit("msg:custom", patch);
  }

  start() {
    const tick = async () => {
      if (this.timer === null) return;
      await this.post({ type: "hello" }, false);
      if (this.timer !== null) this.timer = setTimeout(tick, POLL_MS);
    };
    this.timer = setTimeout(tick, POLL_MS);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}

let current = null; // { model, cleanup } while the inbox shows

function showSignIn(message) {
  if (current) { current.model.stop(); current.cleanup?.(); current = null; }
  $("inbox").replaceChildren();
  $("inbox").hidden = true;
  $("loading").hidden = true;
  $("sign-out").hidden = true;
  $("page-title").hidden = false;
  $("sign-in").hidden = false;
  $("sign-in-message").textContent = message;
  $("token").focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn(message);
}

async function open(token) {
  let reply;
  try {
    reply = await call(token, { message: { type: "hello" } });
  } catch (error) {
    if (error instanceof Refused) signOut("That token was not accepted. Paste a valid one.");
    else showSignIn(`Could not open the inbox: ${error.message}. Try again.`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const model = new WebModel(token, reply.identity, () => signOut("Your token is no longer accepted. Paste a valid one."));
  const el = $("inbox");
  el.replaceChildren();
  $("sign-in").hidden = true;
  $("loading").hidden = true;
  $("sign-out").hidden = false;
  $("page-title").hidden = true; // the widget's own header says "Inbox"
  el.hidden = false;
  current = { model, cleanup: widget.render({ model, el }) };
  model.start();
}

// The token of a #token= link, out of the address bar and the history at once.
function tokenFromLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (!params.has("token")) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return params.get("token") || null;
}

$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  if (token) open(token);
});
$("sign-out").addEventListener("click", () => signOut(""));
// A #token= link opened in a tab that shows the page already changes only the fragment.
window.addEventListener("hashchange", () => {
  const linked = tokenFromLink();
  if (linked) { signOut(""); open(linked); }
});

const token = tokenFromLink() || sessionStorage.getItem(TOKEN_KEY);
if (token) open(token);
else showSignIn("");
