// hitl_notebook widgets: the inbox table and the run card (one ESM module for both views).
// The kernel owns the data; the browser keeps one page of rows and applies the kernel's patches.
// Every click becomes one model.send({type, ...}); answers come back as "result" messages. Each
// message, both ways, is typed in hitl_notebook/_notebook/messages.py.
// The kernel sends people's words (run states, the actions a request takes, what its deadline
// will do, why the responder may not answer) and the menus' entries (sort keys, request kinds):
// nothing here maps DBOS states or request rules, or copies a list the store keeps.
//
// Sections: DOM and time helpers · edit forms · what a request offers (buttons and panels, shared
// by both views) · the inbox view · the run card · the module's entry point.

// ---------------------------------------------------------------------------------------------
// DOM and time helpers.

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

// Append children, skipping null/undefined/false (DOM append would print them as "null").
function put(node, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

function fmtSpan(ms) {
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  if (d) return `${d} d ${hh} h`;
  if (hh) return `${hh} h ${mm} min`;
  if (mm) return `${mm} min`;
  return `${s} s`;
}

// What an overdue request says instead of buttons that could only be refused.
function overdueText(item, now) {
  return `deadline passed ${fmtSpan(now - item.deadline_ms)} ago: ${item.at_deadline}`;
}

function isOverdue(item, now) {
  return item.deadline_ms !== null && item.deadline_ms !== undefined && item.deadline_ms < now;
}

function fmtLeft(ms) {
  const overdue = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  const text = d ? `${d}d ${hh}h` : hh ? `${hh}h ${String(mm).padStart(2, "0")}m` : `${mm}m ${String(s).padStart(2, "0")}s`;
  return overdue ? `overdue ${text}` : `${text} left`;
}

// ---------------------------------------------------------------------------------------------
// Forms: drawn from the field tree made by _notebook/forms.py (an edit form pre-filled with the
// proposal, or an input request's blank form with the model's defaults), read back into a value.

function lastName(path) {
  const parts = path.split("/");
  return parts[parts.length - 1];
}

// A field a person may not change (a tool call's argument outside its editable ones): shown,
// and sent back as it was.
function renderReadonly(field, value) {
  const shown = value === undefined || value === null ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value);
  const wrap = h("div", { class: "hitl-field hitl-field-readonly", "data-path": field.path },
    h("label", { class: "hitl-label", text: field.label }),
    h("span", { class: "hitl-readonly", text: shown, title: "not editable" }),
    h("span", { class: "hitl-hint", text: " (not editable)" }),
    h("div", { class: "hitl-field-error" }));
  return { node: wrap, read: () => ({ value }) };
}

function renderField(field, value) {
  if (field.readonly) return renderReadonly(field, value);
  const wrap = h("div", { class: `hitl-field hitl-field-${field.kind}`, "data-path": field.path });
  const label = field.label ? h("label", { class: "hitl-label", text: field.label + (field.required ? " *" : "") }) : null;
  const hint = field.description ? h("div", { class: "hitl-hint", text: field.description }) : null;
  const error = h("div", { class: "hitl-field-error" });
  let read;
  if (field.kind === "object") {
    const children = field.fields.map((sub) => {
      const r = renderField(sub, value ? value[lastName(sub.path)] : undefined);
      return { name: lastName(sub.path), r };
    });
    const box = h("fieldset", { class: "hitl-object" }, field.label ? h("legend", { text: field.label }) : null, hint, children.map((c) => c.r.node));
    put(wrap, box, error);
    read = () => {
      const out = {};
      for (const c of children) {
        const v = c.r.read();
        if (v.error) return v;
        if (v.value !== undefined) out[c.name] = v.value;
      }
      return { value: out };
    };
    return { node: wrap, read };
  }
  if (field.kind === "list") {
    const items = [];
    const list = h("div", { class: "hitl-list" });
    const add = (v) => {
      const r = renderField({ ...field.item, label: "" }, v);
      const remove = h("button", { class: "hitl-btn hitl-remove-item", type: "button", text: "✕", title: "remove" });
      const row = h("div", { class: "hitl-list-item" }, r.node, remove);
      const entry = { r, row };
      remove.addEventListener("click", () => { items.splice(items.indexOf(entry), 1); row.remove(); });
      items.push(entry);
      list.append(row);
    };
    (Array.isArray(value) ? value : []).forEach(add);
    const addBtn = h("button", { class: "hitl-btn hitl-add-item", type: "button", text: "+ add" });
    addBtn.addEventListener("click", () => add(undefined));
    put(wrap, label, hint, list, addBtn, error);
    read = () => {
      const out = [];
      for (const e of items) {
        const v = e.r.read();
        if (v.error) return v;
        out.push(v.value === undefined ? null : v.value);
      }
      return { value: out };
    };
    return { node: wrap, read };
  }
  let input;
  if (field.kind === "boolean") {
    input = h("input", { type: "checkbox", class: "hitl-input", checked: !!value });
    read = () => ({ value: input.checked });
  } else if (field.kind === "enum") {
    input = h("select", { class: "hitl-input" });
    if (field.nullable || value === null || value === undefined) input.append(h("option", { value: "null", text: "—" }));
    for (const option of field.options) {
      input.append(h("option", { value: JSON.stringify(option), text: String(option), selected: option === value }));
    }
    if (value !== null && value !== undefined) input.value = JSON.stringify(value);
    read = () => ({ value: JSON.parse(input.value) });
  } else if (field.kind === "integer" || field.kind === "number") {
    const b = field.bounds || {};
    const min = b.minimum ?? b.exclusiveMinimum, max = b.maximum ?? b.exclusiveMaximum;
    input = h("input", { type: "number", class: "hitl-input", step: field.kind === "integer" ? "1" : "any", value: value ?? "", min: b.minimum, max: b.maximum });
    const range = [min !== undefined ? `${b.exclusiveMinimum !== undefined ? ">" : "≥"} ${min}` : null, max !== undefined ? `${b.exclusiveMaximum !== undefined ? "<" : "≤"} ${max}` : null].filter(Boolean).join(", ");
    if (range) wrap.append(h("span", { class: "hitl-bounds", text: `(${range})` }));
    read = () => {
      const raw = input.value.trim();
      if (raw === "") return { value: field.nullable ? null : undefined };
      const n = Number(raw);
      return Number.isNaN(n) ? { error: [field.path, "not a number"] } : { value: n };
    };
  } else if (field.kind === "json") {
    input = h("textarea", { class: "hitl-input hitl-json", rows: 3, value: value === undefined ? "" : JSON.stringify(value) });
    read = () => {
      const raw = input.value.trim();
      if (raw === "") return { value: undefined };
      try { return { value: JSON.parse(raw) }; } catch (e) { return { error: [field.path, "not valid JSON"] }; }
    };
  } else {
    const b = field.bounds || {};
    input = h("input", { type: "text", class: "hitl-input", value: value ?? "", minLength: b.minLength, maxLength: b.maxLength });
    const length = b.minLength !== undefined && b.maxLength !== undefined ? `${b.minLength} to ${b.maxLength} characters`
      : b.minLength !== undefined ? `at least ${b.minLength} character${b.minLength === 1 ? "" : "s"}`
        : b.maxLength !== undefined ? `at most ${b.maxLength} characters` : "";
    if (length) wrap.append(h("span", { class: "hitl-bounds", text: `(${length})` }));
    // A required field of a blank form left empty is missing (the store then names it), not "".
    const blank = value === undefined || value === null;
    read = () => ({ value: input.value === "" ? (field.nullable ? null : field.required && blank ? undefined : "") : input.value });
  }
  if (field.required && field.kind !== "boolean") input.required = true;
  input.setAttribute("name", field.path || "value");
  wrap.prepend(...[label, input].filter(Boolean));
  put(wrap, hint, error);
  return { node: wrap, read };
}

function showErrors(container, errors) {
  container.querySelectorAll(".hitl-field-error").forEach((n) => { n.textContent = ""; });
  container.querySelectorAll(".hitl-invalid").forEach((n) => n.classList.remove("hitl-invalid"));
  const general = [];
  for (const [path, messages] of Object.entries(errors || {})) {
    const pattern = path.replace(/\/\d+(?=\/|$)/g, "/*");
    const exact = container.querySelector(`.hitl-field[data-path="${CSS.escape(path)}"] > .hitl-field-error`);
    const field = exact || container.querySelector(`.hitl-field[data-path="${CSS.escape(pattern)}"] > .hitl-field-error`);
    if (field && path !== "") {
      field.textContent = messages.join("; ");
      field.parentElement.classList.add("hitl-invalid");
    } else general.push(...messages);
  }
  return general;
}

// ---------------------------------------------------------------------------------------------
// What a request offers, shared by the inbox rows and the run card: its buttons (as the kernel
// lists them), or why it offers none (its deadline has passed, or the responder may not answer).

function actionButtons(item) {
  const digest = item.tool ? item.tool.digest : undefined;
  const b = (action, text, extra = {}) => h("button", { class: `hitl-btn hitl-${action}`, type: "button", "data-action": action, "data-id": item.id, "data-digest": digest, text, ...extra });
  const out = [];
  for (const action of item.actions || []) {
    if (action === "approve") out.push(b("approve", "Approve"));
    else if (action === "reject") out.push(b("reject", "Reject"));
    else if (action === "edit") out.push(b("edit", "Edit"));
    else if (action === "answer") out.push(b("answer", "Answer"));
    else if (action === "fill") out.push(b("fill", "Fill in"));
    else if (action === "pick") out.push(b("pick", "Pick…", { "data-options": JSON.stringify(item.options || []), "data-picks": JSON.stringify(item.picks) }));
    else if (action === "choose") for (const option of item.options || []) out.push(b("choose", option, { "data-choice": option }));
  }
  return out;
}

function offer(item, now) {
  if (isOverdue(item, now)) return h("div", { class: "hitl-note hitl-overdue-note", text: overdueText(item, now) });
  const votes = item.quorum ? quorumLine(item.quorum) : null;
  if (item.why_not) return [votes, h("div", { class: "hitl-note hitl-not-yours", text: `you may not ${item.quorum ? "vote" : "answer"}: ${item.why_not}` })];
  return [votes, ...actionButtons(item)];
}

// A quorum request (k of n approvals): its rule, how far the votes are, and who voted how.
function quorumLine(quorum) {
  const voted = quorum.votes.map((v) => `${v.voter} ${v.word} (${v.channel})${v.comment ? `: ${v.comment}` : ""}`);
  return h("div", { class: "hitl-note hitl-quorum", title: quorum.rule },
    h("span", { class: "hitl-quorum-progress", text: quorum.progress }),
    h("span", { class: "hitl-quorum-rule", text: ` · needs ${quorum.rule}` }),
    voted.length ? h("div", { class: "hitl-quorum-votes", text: voted.join("; ") }) : null);
}

// Panels (approve/reject comment, text answer, edit form, details) live under a row, by request id.
class Panels {
  constructor(model) { this.model = model; this.open = new Map(); this.forms = new Map(); }

  toggle(id, kind, host) {
    const current = this.open.get(id);
    if (current && current.kind === kind) { this.close(id); return null; }
    this.close(id);
    const node = h("div", { class: `hitl-panel hitl-panel-${kind}`, "data-id": id });
    this.open.set(id, { kind, node });
    host.append(node);
    return node;
  }

  close(id) {
    const current = this.open.get(id);
    if (current) current.node.remove();
    this.open.delete(id);
    this.forms.delete(id);
  }

  // Approve or reject, with an optional comment; Enter sends.
  decide(id, host, approve, digest) {
    const node = this.toggle(id, approve ? "approve" : "reject", host);
    if (!node) return;
    const comment = h("input", { type: "text", class: "hitl-input hitl-comment", placeholder: approve ? "comment (optional)" : "why? (comment, optional)" });
    const send = h("button", { class: `hitl-btn ${approve ? "hitl-send-approve" : "hitl-send-reject"}`, type: "button", text: approve ? "Send approval" : "Send rejection" });
    const go = () => this.model.send({ type: "respond", request_id: id, approve, comment: comment.value, ...(digest ? { digest } : {}) });
    send.addEventListener("click", go);
    comment.addEventListener("keydown", (event) => { if (event.key === "Enter") go(); });
    node.append(comment, send);
    comment.focus();
  }

  answer(id, host) {
    const node = this.toggle(id, "answer", host);
    if (!node) return;
    const text = h("textarea", { class: "hitl-input hitl-text", rows: 2, placeholder: "your answer" });
    const send = h("button", { class: "hitl-btn hitl-send-answer", type: "button", text: "Send answer" });
    send.addEventListener("click", () => this.model.send({ type: "respond", request_id: id, text: text.value }));
    node.append(text, send);
    text.focus();
  }

  // The edit form of a proposal ("edit"), or an input request's blank form ("fill").
  form(id, host, kind) {
    const node = this.toggle(id, kind, host);
    if (!node) return;
    node.append(h("div", { class: "hitl-loading", text: "loading form…" }));
    this.model.send({ type: "form", request_id: id });
  }

  // A multiple choice: one checkbox per option, its count rule ("pick 1 to 3"), and Submit
  // enabled only while the count fits the rule; the picks are sent in the options' order.
  pick(id, host, options, picks) {
    const node = this.toggle(id, "pick", host);
    if (!node) return;
    const boxes = options.map((option) => h("input", { type: "checkbox", class: "hitl-pick", value: option, "data-option": option }));
    const count = h("span", { class: "hitl-pick-count" });
    const comment = h("input", { type: "text", class: "hitl-input hitl-comment", placeholder: "comment (optional)" });
    const send = h("button", { class: "hitl-btn hitl-submit-picks", type: "button", text: "Submit" });
    const picked = () => boxes.filter((box) => box.checked).map((box) => box.value);
    const update = () => {
      const n = picked().length;
      send.disabled = n < picks.min || n > picks.max;
      count.textContent = ` ${n} picked`;
    };
    for (const box of boxes) box.addEventListener("change", update);
    send.addEventListener("click", () => this.model.send({ type: "respond", request_id: id, choices: picked(), comment: comment.value }));
    node.append(
      h("div", { class: "hitl-pick-rule", text: picks.rule }, count),
      h("div", { class: "hitl-picks" }, boxes.map((box) => h("label", { class: "hitl-pick-option" }, box, ` ${box.value}`))),
      comment, send);
    update();
  }

  details(id, host) {
    const node = this.toggle(id, "details", host);
    if (!node) return;
    node.append(h("div", { class: "hitl-loading", text: "loading…" }));
    this.model.send({ type: "details", request_id: id });
  }

  onForm(msg) {
    const current = this.open.get(msg.request_id);
    if (!current || (current.kind !== "edit" && current.kind !== "fill")) return;
    const node = current.node;
    node.replaceChildren();
    if (!msg.form) { node.append(h("div", { class: "hitl-msg", text: msg.message })); return; }
    const form = renderField(msg.form, msg.form.value);
    const comment = h("input", { type: "text", class: "hitl-input hitl-comment", placeholder: "comment (optional)" });
    const general = h("div", { class: "hitl-form-error" });
    const submit = msg.fill
      ? h("button", { class: "hitl-btn hitl-submit-input", type: "button", text: "Submit" })
      : h("button", { class: "hitl-btn hitl-submit-edit", type: "button", text: "Submit edit" });
    submit.addEventListener("click", () => {
      const read = form.read();
      if (read.error) {
        general.textContent = showErrors(node, { [read.error[0]]: [read.error[1]] }).join("; ");
        return;
      }
      general.textContent = "";
      const answer = msg.fill ? { value: read.value } : { approve: true, value: read.value };
      this.model.send({ type: "respond", request_id: msg.request_id, ...answer, comment: comment.value, ...(msg.digest ? { digest: msg.digest } : {}) });
    });
    node.append(h("form", { class: "hitl-form", onsubmit: (e) => e.preventDefault() }, form.node), comment, submit, general);
    this.forms.set(msg.request_id, { node, general });
  }

  onDetails(msg, now) {
    const current = this.open.get(msg.request_id);
    if (!current || current.kind !== "details") return;
    const d = msg.details;
    const node = current.node;
    node.replaceChildren();
    if (d.error) { node.append(h("div", { class: "hitl-msg", text: d.error })); return; }
    // body_html is Markdown rendered by the kernel with raw HTML off and only safe links.
    const body = d.body_html ? h("div", { class: "hitl-body hitl-markdown" }) : null;
    if (body) body.innerHTML = d.body_html;
    const deadline = d.deadline_ms === null || d.deadline_ms === undefined ? null
      : isOverdue(d, now) ? h("div", { class: "hitl-note hitl-overdue-note", text: overdueText(d, now) })
        : h("div", { text: `deadline ${fmtTime(d.deadline_ms)} (${fmtLeft(d.deadline_ms - now)})` });
    const proposal = d.tool ? toolBlock(d.tool, d.body) : d.proposal_rows ? rowsTable("hitl-proposal", ["field", "value"], d.proposal_rows) : null;
    node.append(
      h("div", { class: "hitl-details" },
        h("h4", { text: d.title }),
        body,
        h("div", { text: `asked ${fmtTime(d.requested_at_ms)}` }),
        deadline,
        d.assignees && d.assignees.length ? h("div", { text: `for: ${d.assignees.join(", ")}` }) : null,
        d.why_not ? h("div", { class: "hitl-note hitl-not-yours", text: `you may not answer: ${d.why_not}` }) : null,
        d.quorum ? quorumLine(d.quorum) : null,
        d.options ? h("div", { text: `options: ${d.options.join(", ")}${d.picks ? ` (${d.picks.rule})` : ""}` }) : null,
        d.decided ? h("div", { text: d.decided }) : null,
        proposal,
        changesTable(d.changes),
        h("div", { class: "hitl-timeline-title", text: "status history" }),
        h("ol", { class: "hitl-timeline" }, d.history.map((e) => h("li", {}, h("span", { class: "hitl-time", text: fmtTime(e.at_ms) }), ` ${e.status}`, e.detail ? ` — ${e.detail}` : ""))),
      ),
    );
  }

  // Validation problems of an answer: per field in an open form, else the row message shows them.
  onResult(msg) {
    const form = this.forms.get(msg.request_id);
    if (form && msg.errors) {
      form.general.textContent = showErrors(form.node, msg.errors).join("; ");
      return true;
    }
    return false;
  }
}

// A small table: a header row, then one row per entry whose first cell heads the row.
function rowsTable(cls, headers, rows) {
  return h("table", { class: cls },
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { text })))),
    h("tbody", {}, rows.map(([first, ...rest]) => h("tr", {}, h("th", { scope: "row", text: first }), rest.map((text) => h("td", { text }))))));
}

// A tool call: its name, its docstring (unless the body already shows it), its arguments and
// which of them a person may change.
function toolBlock(tool, body) {
  const none = Array.isArray(tool.editable) && !tool.editable.length;
  return h("div", { class: "hitl-tool" },
    h("div", { class: "hitl-tool-name", text: tool.label }),
    tool.description && tool.description !== body ? h("div", { class: "hitl-tool-doc", text: tool.description }) : null,
    rowsTable("hitl-proposal hitl-args", ["argument", "value", ""], tool.arguments),
    none ? h("div", { class: "hitl-hint", text: "no argument may be changed" }) : null);
}

// What an edit changed: argument, proposed, approved.
function changesTable(changes) {
  if (!changes || !changes.length) return null;
  return h("div", { class: "hitl-changes" },
    h("div", { class: "hitl-changes-title", text: "changed before approval" }),
    rowsTable("hitl-proposal hitl-changed", ["argument", "proposed", "approved"], changes));
}

// The arguments of a tool call in its row: a compact name/value list.
function argsLine(tool) {
  return h("div", { class: "hitl-args-line" }, tool.arguments.map(([name, value]) => h("span", { class: "hitl-arg" }, h("span", { class: "hitl-arg-name", text: name }), " ", h("span", { class: "hitl-arg-value", text: value }))));
}

function onAction(model, panels, button, host) {
  const id = button.dataset.id;
  const action = button.dataset.action;
  if (action === "approve") panels.decide(id, host, true, button.dataset.digest);
  else if (action === "reject") panels.decide(id, host, false, button.dataset.digest);
  else if (action === "choose") model.send({ type: "respond", request_id: id, choice: button.dataset.choice });
  else if (action === "answer") panels.answer(id, host);
  else if (action === "edit" || action === "fill") panels.form(id, host, action);
  else if (action === "pick") panels.pick(id, host, JSON.parse(button.dataset.options), JSON.parse(button.dataset.picks));
  else if (action === "details") panels.details(id, host);
}

function stateChip(word) {
  return h("span", { class: `hitl-state hitl-state-${word.replace(/\W+/g, "-")}`, text: word });
}

// ---------------------------------------------------------------------------------------------
// The inbox view.

// Bulk answers go to the selected rows they fit: approve/reject requests, before their deadline,
// that the responder may answer. The others are named, with the reason, before anything is sent.
function bulkPlan(rows, now) {
  const fit = [], skipped = [];
  for (const row of rows) {
    if (!(row.actions || []).includes("approve")) skipped.push([row, `a ${row.kind} request`]);
    else if (isOverdue(row, now)) skipped.push([row, "deadline passed"]);
    else if (row.why_not) skipped.push([row, `you may not answer: ${row.why_not}`]);
    else fit.push(row);
  }
  return { fit, skipped };
}

function renderInbox({ model, el }) {
  const state = { rows: [], byId: new Map(), total: 0, agents: [], choices: "", query: {}, page: 0, pageSize: 25, offset: 0, selected: new Set(), messages: new Map() };
  const panels = new Panels(model);
  const now = () => Date.now() + state.offset;
  const root = h("div", { class: "hitl-inbox" });
  const badge = h("span", { class: "hitl-badge", text: "…" });
  const who = h("span", { class: "hitl-responder" });
  const notice = h("div", { class: "hitl-notice" });
  const search = h("input", { type: "search", class: "hitl-input hitl-search", placeholder: "search titles" });
  const kind = h("select", { class: "hitl-input hitl-kind" });
  const agent = h("select", { class: "hitl-input hitl-agent" });
  const overdue = h("input", { type: "checkbox", class: "hitl-overdue-only" });
  const sort = h("select", { class: "hitl-input hitl-sort" });
  const desc = h("input", { type: "checkbox", class: "hitl-desc" });
  const selectAll = h("input", { type: "checkbox", class: "hitl-select-all", title: "select this page" });
  const bulkComment = h("input", { type: "text", class: "hitl-input hitl-bulk-comment", placeholder: "comment for selected" });
  const bulkApprove = h("button", { class: "hitl-btn hitl-bulk-approve", type: "button", text: "Approve selected" });
  const bulkReject = h("button", { class: "hitl-btn hitl-bulk-reject", type: "button", text: "Reject selected" });
  const bulkMsg = h("span", { class: "hitl-bulk-msg" });
  const bulkConfirm = h("div", { class: "hitl-bulk-confirm" });
  const tbody = h("tbody");
  const prev = h("button", { class: "hitl-btn hitl-prev", type: "button", text: "‹ prev" });
  const next = h("button", { class: "hitl-btn hitl-next", type: "button", text: "next ›" });
  const pageInfo = h("span", { class: "hitl-page" });
  root.append(
    h("div", { class: "hitl-header" }, h("b", { text: "Inbox" }), badge, who),
    notice,
    h("div", { class: "hitl-filters" }, search, kind, agent, h("label", {}, overdue, " overdue only"), h("label", {}, "sort ", sort), h("label", {}, desc, " newest/last first")),
    h("div", { class: "hitl-bulk" }, bulkComment, bulkApprove, bulkReject, bulkMsg),
    bulkConfirm,
    h("table", { class: "hitl-table" },
      h("thead", {}, h("tr", {}, h("th", {}, selectAll), ["agent", "request", "kind", "status", "deadline", "actions"].map((t) => h("th", { text: t })))),
      tbody),
    h("div", { class: "hitl-pager" }, prev, pageInfo, next),
  );
  el.append(root);

  const sendQuery = (page = 0) => model.send({ type: "query", page, query: { search: search.value, kind: kind.value, agent: agent.value, overdue: overdue.checked, sort: sort.value, descending: desc.checked } });
  let debounce;
  search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => sendQuery(0), 250); });
  for (const input of [kind, agent, overdue, sort, desc]) input.addEventListener("change", () => sendQuery(0));
  prev.addEventListener("click", () => sendQuery(Math.max(0, state.page - 1)));
  next.addEventListener("click", () => sendQuery(state.page + 1));
  selectAll.addEventListener("change", () => {
    for (const row of state.rows) if (selectAll.checked) state.selected.add(row.id); else state.selected.delete(row.id);
    tbody.querySelectorAll("input.hitl-select").forEach((box) => { box.checked = selectAll.checked; });
  });
  const bulk = (approve) => {
    bulkConfirm.replaceChildren();
    const chosen = state.rows.filter((row) => state.selected.has(row.id));
    if (!chosen.length) { bulkMsg.textContent = "select requests first"; return; }
    const { fit, skipped } = bulkPlan(chosen, now());
    const verb = approve ? "approve" : "reject";
    const skippedText = skipped.length ? `Skipped ${skipped.length}: ${skipped.map(([row, why]) => `${row.id} (${why})`).join("; ")}.` : "";
    bulkMsg.textContent = "";
    if (!fit.length) {
      bulkConfirm.append(h("span", { class: "hitl-bulk-plan", text: `Nothing to ${verb}. ${skippedText}` }));
      return;
    }
    const send = h("button", { class: `hitl-btn hitl-bulk-send ${approve ? "hitl-send-approve" : "hitl-send-reject"}`, type: "button", text: `${approve ? "Approve" : "Reject"} ${fit.length}` });
    const cancel = h("button", { class: "hitl-btn hitl-bulk-cancel", type: "button", text: "Cancel" });
    send.addEventListener("click", () => {
      bulkConfirm.replaceChildren();
      bulkMsg.textContent = "sending…";
      model.send({ type: "bulk", request_ids: fit.map((row) => row.id), approve, comment: bulkComment.value });
    });
    cancel.addEventListener("click", () => bulkConfirm.replaceChildren());
    bulkConfirm.append(
      h("span", { class: "hitl-bulk-plan", text: `${approve ? "Approve" : "Reject"} ${fit.length}: ${fit.map((row) => row.id).join(", ")}.${skippedText ? ` ${skippedText}` : ""}` }),
      send, cancel);
  };
  bulkApprove.addEventListener("click", () => bulk(true));
  bulkReject.addEventListener("click", () => bulk(false));

  tbody.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const host = tbody.querySelector(`tr.hitl-panel-row[data-id="${CSS.escape(button.dataset.id)}"] > td`);
    onAction(model, panels, button, host);
  });
  tbody.addEventListener("change", (event) => {
    const box = event.target.closest("input.hitl-select");
    if (!box) return;
    if (box.checked) state.selected.add(box.dataset.id); else state.selected.delete(box.dataset.id);
  });

  function actionsCell(row, late) {
    const message = state.messages.get(row.id);
    const cell = h("td", { class: "hitl-actions" },
      late ? h("div", { class: "hitl-note hitl-overdue-note", text: overdueText(row, now()) }) : offer(row, now()),
      h("button", { class: "hitl-btn hitl-details-btn", type: "button", "data-action": "details", "data-id": row.id, text: "Details" }),
      h("div", { class: `hitl-msg ${message ? message.cls : ""}`, text: message ? message.text : "" }));
    return cell;
  }

  // The channels that gave up telling people about the request (their sends failed for good).
  function notNotified(row) {
    if (!row.not_notified) return null;
    return h("div", { class: "hitl-not-notified", role: "note", text: `\u26a0 ${row.not_notified}`,
      title: "A channel could not deliver the notification; see the run's history." });
  }

  function rowNodes(row) {
    const late = isOverdue(row, now());
    const main = h("tr", { class: `hitl-row${late ? " hitl-overdue" : ""}`, "data-id": row.id, "data-overdue": String(late) },
      h("td", {}, h("input", { type: "checkbox", class: "hitl-select", "data-id": row.id, checked: state.selected.has(row.id) })),
      h("td", { class: "hitl-agent-name", text: row.agent }),
      h("td", { class: "hitl-title" }, h("div", { text: row.title }), row.body ? h("div", { class: "hitl-preview", text: row.body }) : null, row.tool ? argsLine(row.tool) : null, h("div", { class: "hitl-ids", text: row.id })),
      h("td", { class: "hitl-kind-cell", text: row.tool ? row.tool.label : row.kind }),
      h("td", { class: "hitl-status" }, stateChip(row.state), row.status ? h("span", { class: "hitl-agent-status", text: row.status }) : null, notNotified(row)),
      h("td", { class: "hitl-deadline", "data-deadline": row.deadline_ms ?? "" }),
      actionsCell(row, late),
    );
    const panelRow = h("tr", { class: "hitl-panel-row", "data-id": row.id }, h("td", { colSpan: 7 }));
    const open = panels.open.get(row.id);
    if (open) panelRow.firstChild.append(open.node);
    return [main, panelRow];
  }

  function drawRows() {
    const nodes = [];
    for (const row of state.rows) nodes.push(...rowNodes(row));
    tbody.replaceChildren(...nodes);
    if (!state.rows.length) tbody.append(h("tr", { class: "hitl-empty" }, h("td", { colSpan: 7, text: state.total ? "no requests on this page" : "nothing is waiting" })));
    tick();
  }

  // The menus' entries come from the kernel (the store's sort keys and request kinds).
  function drawChoices(choices) {
    const drawn = JSON.stringify(choices);
    if (drawn === state.choices) return;
    state.choices = drawn;
    kind.replaceChildren(h("option", { value: "", text: "all kinds" }), ...choices.kinds.map((k) => h("option", { value: k, text: k })));
    sort.replaceChildren(...choices.sorts.map((s) => h("option", { value: s.key, text: s.label })));
  }

  function drawChrome() {
    badge.textContent = `${state.total.toLocaleString("en")} waiting`;
    const first = state.total ? state.page * state.pageSize + 1 : 0;
    const last = Math.min(state.total, (state.page + 1) * state.pageSize);
    pageInfo.textContent = `${first}–${last} of ${state.total.toLocaleString("en")}`;
    prev.disabled = state.page === 0;
    next.disabled = last >= state.total;
    const chosen = agent.value || state.query.agent || "";
    agent.replaceChildren(h("option", { value: "", text: "all agents" }), ...[...new Set([...state.agents, ...(chosen ? [chosen] : [])])].map((a) => h("option", { value: a, text: a })));
    agent.value = chosen;
  }

  // Every second: countdowns, and a row whose deadline passes swaps its buttons for what will happen.
  function tick() {
    const at = now();
    for (const tr of tbody.querySelectorAll("tr.hitl-row")) {
      const row = state.byId.get(tr.dataset.id);
      if (!row) continue;
      const cell = tr.querySelector("td.hitl-deadline");
      if (row.deadline_ms === null || row.deadline_ms === undefined) { cell.textContent = "—"; continue; }
      cell.textContent = fmtLeft(row.deadline_ms - at);
      cell.title = fmtTime(row.deadline_ms);
      const late = isOverdue(row, at);
      if (String(late) !== tr.dataset.overdue) {
        tr.dataset.overdue = String(late);
        tr.classList.toggle("hitl-overdue", late);
        tr.querySelector("td.hitl-actions").replaceWith(actionsCell(row, late));
        if (late && panels.open.has(row.id) && panels.open.get(row.id).kind !== "details") panels.close(row.id);
      } else if (late) {
        tr.querySelector(".hitl-overdue-note").textContent = overdueText(row, at);
      }
    }
  }
  const timer = setInterval(tick, 1000);

  model.on("change:responder", () => { who.textContent = `answering as ${model.get("responder")}`; });
  who.textContent = `answering as ${model.get("responder")}`;

  const onMessage = (msg) => {
    if (msg.type === "snapshot") {
      Object.assign(state, { rows: msg.rows, total: msg.total, agents: msg.agents, query: msg.query, page: msg.page, pageSize: msg.page_size, offset: msg.now_ms - Date.now() });
      state.byId = new Map(msg.rows.map((r) => [r.id, r]));
      state.selected.clear(); selectAll.checked = false; bulkConfirm.replaceChildren();
      drawChoices(msg.choices);
      search.value = document.activeElement === search ? search.value : msg.query.search;
      kind.value = msg.query.kind; agent.value = msg.query.agent; overdue.checked = msg.query.overdue; sort.value = msg.query.sort; desc.checked = msg.query.descending;
      drawChrome(); drawRows();
      root.dataset.ready = "1";
    } else if (msg.type === "patch") {
      for (const row of msg.upsert) state.byId.set(row.id, row);
      for (const id of msg.remove) { state.byId.delete(id); state.selected.delete(id); panels.close(id); state.messages.delete(id); }
      state.rows = msg.order.map((id) => state.byId.get(id)).filter(Boolean);
      Object.assign(state, { total: msg.total, page: msg.page, offset: msg.now_ms - Date.now() });
      if (msg.agents) state.agents = msg.agents;
      drawChrome(); drawRows();
    } else if (msg.type === "result") {
      if (!msg.ok && panels.onResult(msg)) return;
      state.messages.set(msg.request_id, { text: msg.message, cls: msg.ok ? "hitl-ok" : "hitl-refused" });
      const cell = tbody.querySelector(`tr.hitl-row[data-id="${CSS.escape(msg.request_id)}"] .hitl-msg`);
      if (cell) { cell.textContent = msg.message; cell.className = `hitl-msg ${msg.ok ? "hitl-ok" : "hitl-refused"}`; }
      if (msg.decided) panels.close(msg.request_id);
      if (msg.ok || msg.decided) showNotice(msg.message, msg.ok ? "hitl-ok" : "hitl-refused");
    } else if (msg.type === "bulk_result") {
      bulkMsg.textContent = msg.message + (Object.keys(msg.failed).length ? `: ${Object.entries(msg.failed).map(([id, e]) => `${id}: ${e}`).join("; ")}` : "");
      state.selected.clear(); selectAll.checked = false;
    } else if (msg.type === "form") panels.onForm(msg);
    else if (msg.type === "details") panels.onDetails(msg, now());
    else if (msg.type === "notice") showNotice(msg.message, "");
  };
  function showNotice(text, cls) { notice.textContent = text; notice.className = `hitl-notice ${cls}`; }
  model.on("msg:custom", onMessage);
  model.send({ type: "hello" });
  return () => { clearInterval(timer); model.off("msg:custom", onMessage); };
}

// ---------------------------------------------------------------------------------------------
// The run card.

function renderRun({ model, el }) {
  const panels = new Panels(model);
  const root = h("div", { class: "hitl-run" });
  const notice = h("div", { class: "hitl-notice" });
  const body = h("div", { class: "hitl-run-body" });
  root.append(body, notice);
  el.append(root);
  let card = null;
  let drawnLate = "";
  const messages = new Map();
  const lateIds = (now) => card.requests.filter((r) => isOverdue(r, now)).map((r) => r.id).join(" ");

  function draw() {
    if (!card) return;
    const now = Date.now();
    drawnLate = lateIds(now);
    const progress = card.progress === null || card.progress === undefined ? null : Math.round(card.progress * 100);
    const requests = h("div", { class: "hitl-run-requests" }, card.requests.map((r) => {
      const host = h("div", { class: "hitl-panel-host" });
      const open = panels.open.get(r.id);
      if (open) host.append(open.node);
      const message = messages.get(r.id);
      const node = h("div", { class: `hitl-run-request hitl-row${isOverdue(r, now) ? " hitl-overdue" : ""}`, "data-id": r.id },
        h("div", { class: "hitl-title", text: `${r.title} (${r.tool ? r.tool.label : r.kind})` }),
        r.tool ? argsLine(r.tool) : null,
        r.deadline_ms ? h("div", { class: "hitl-deadline-text", text: `deadline ${fmtTime(r.deadline_ms)}` }) : null,
        h("div", { class: "hitl-actions" }, offer(r, now), h("span", { class: `hitl-msg ${message ? message.cls : ""}`, text: message ? message.text : "" })),
        host);
      node.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-action]");
        if (button && node.contains(button) && !host.contains(button)) onAction(model, panels, button, host);
      });
      return node;
    }));
    body.replaceChildren(...[
      h("div", { class: "hitl-header" }, h("b", { text: card.agent || "run" }), h("span", { class: "hitl-ids", text: card.run_id }), stateChip(card.state)),
      card.status_text ? h("div", { class: "hitl-run-status" }, h("span", { class: "hitl-agent-status", text: card.status_text })) : null,
      progress === null ? null : h("div", { class: "hitl-progress" }, h("div", { class: "hitl-progress-track" }, h("div", { class: "hitl-progress-bar", style: `width:${progress}%` })), h("span", { text: `${progress}%` })),
      card.result !== null && card.result !== undefined ? h("div", { class: "hitl-result", text: `result: ${card.result}` }) : null,
      requests,
      (card.tool_calls || []).length ? h("div", { class: "hitl-tool-calls" }, card.tool_calls.map((c) => h("div", { class: "hitl-tool-call", "data-id": c.id },
        h("div", {}, h("span", { class: "hitl-tool-name", text: c.label }), ` ${c.decided}`, h("span", { class: "hitl-ids", text: ` ${c.id}` })),
        changesTable(c.changes)))) : null,
      h("ol", { class: "hitl-timeline" }, card.timeline.map((e) => h("li", {}, h("span", { class: "hitl-time", text: fmtTime(e.at_ms) }), ` ${e.status}`, e.detail ? ` — ${e.detail}` : ""))),
    ].filter(Boolean));
    root.dataset.status = card.status || "";
    root.dataset.state = card.state;
  }

  const onMessage = (msg) => {
    if (msg.type === "card") { card = msg.card; for (const id of [...panels.open.keys()]) if (!card.requests.some((r) => r.id === id)) panels.close(id); draw(); }
    else if (msg.type === "result") {
      if (!msg.ok && panels.onResult(msg)) return;
      messages.set(msg.request_id, { text: msg.message, cls: msg.ok ? "hitl-ok" : "hitl-refused" });
      notice.textContent = msg.message;
      draw();
    } else if (msg.type === "form") panels.onForm(msg);
    else if (msg.type === "details") panels.onDetails(msg, Date.now());
    else if (msg.type === "notice") notice.textContent = msg.message;
  };
  // A request whose deadline passes while the card shows swaps its buttons for what will happen.
  const timer = setInterval(() => { if (card && lateIds(Date.now()) !== drawnLate) draw(); }, 1000);
  model.on("msg:custom", onMessage);
  model.send({ type: "hello" });
  return () => { clearInterval(timer); model.off("msg:custom", onMessage); };
}

// ---------------------------------------------------------------------------------------------
// The module's entry point: anywidget calls render for each view of a widget.

export default {
  render(context) {
    const view = context.model.get("view");
    return view === "run" ? renderRun(context) : renderInbox(context);
  },
};
