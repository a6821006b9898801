// The CS console: escalations by severity and SLA, one escalation with its shipment timeline and audit
// trail, the customer behind it and the messages already sent, and the transitions (each needs the agent's
// name, sent as the actor). Plain DOM, no build step. Every value from the API goes in with textContent
// (carrier descriptions are untrusted text); the token lives in sessionStorage only and goes out as a
// bearer token to this origin's API.
"use strict";

const TOKEN_KEY = "carrier-events.cs-token";
const REFRESH_MS = 30000;
const $ = (id) => document.getElementById(id);
let selected = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { signOut("The token was refused."); throw new Error("unauthorized"); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function relative(iso) {
  if (!iso) return "";
  const minutes = Math.round((Date.parse(iso) - Date.now()) / 60000);
  const span = Math.abs(minutes) >= 120 ? `${Math.round(Math.abs(minutes) / 60)} h` : `${Math.abs(minutes)} min`;
  return minutes >= 0 ? `in ${span}` : `${span} ago`;
}

function stamp(iso) { return iso ? iso.replace("T", " ").replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)$/, " $2") : ""; }

function query() {
  const params = new URLSearchParams();
  const state = $("filter-state").value;
  if (state === "active") params.set("active", "true"); else if (state) params.set("state", state);
  for (const [name, id] of [["severity", "filter-severity"], ["owner_role", "filter-owner"],
                            ["exception_class", "filter-class"]]) {
    const value = $(id).value.trim();
    if (value) params.set(name, value);
  }
  return params.toString();
}

async function loadList() {
  const { items } = await api(`/v1/escalations?${query()}`);
  const rows = $("rows");
  rows.replaceChildren();
  for (const item of items) {
    const tr = el("tr");
    tr.dataset.id = item.id;
    tr.dataset.severity = item.severity;
    if (item.id === selected) tr.classList.add("selected");
    const sev = el("td"); sev.append(el("span", item.severity, `sev sev-${item.severity}`));
    const sla = el("td", item.state === "waiting" ? `opens ${relative(item.open_at)}`
                                                  : item.state === "resolved" ? "" : relative(item.sla_due_at));
    if (item.breached) { sla.classList.add("breached"); sla.textContent = `breached · ${sla.textContent}`; }
    tr.append(sev, el("td", item.exception_class), el("td", `${item.carrier} ${item.tracking_number}`),
              el("td", item.owner_role, "wide"), el("td", item.assignee || "—", "wide"), el("td", item.state), sla);
    tr.addEventListener("click", () => select(item.id));
    rows.append(tr);
  }
  $("empty").hidden = items.length > 0;
  const breached = items.filter((i) => i.breached).length;
  $("summary").textContent = `${items.length} shown` + (breached ? ` · ${breached} past SLA` : "");
}

async function select(id) {
  if (id !== selected) {  // a note or assignee typed for one case never goes out on another
    $("note").value = "";
    $("assignee").value = "";
    $("action-error").textContent = "";
  }
  selected = id;
  for (const tr of $("rows").children) tr.classList.toggle("selected", tr.dataset.id === id);
  const item = await api(`/v1/escalations/${encodeURIComponent(id)}`);
  if (selected !== id) return;  // another case was picked meanwhile
  render(item);
  if (window.matchMedia("(max-width: 900px)").matches) $("detail").scrollIntoView({ block: "start" });
  const shipment = await fetch(`/v1/shipments/${encodeURIComponent(item.carrier)}/${encodeURIComponent(item.tracking_number)}`,
    { headers: { Authorization: `Bearer ${token()}` } })
    .then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (selected === id) renderTimeline(shipment);
}

function link(url, text) {
  if (!url || !/^https?:\/\//i.test(url)) return text || "—";
  const a = el("a", text || url);
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

function renderCustomer(item) {
  const customer = item.customer || {};
  const facts = $("customer");
  facts.replaceChildren();
  const rows = [["Order", item.order_id || "—"], ["Merchant", item.merchant || "—"],
                ["Name", customer.name || "—"], ["Email", customer.email || "—"], ["Phone", customer.phone || "—"],
                ["Tracking", link(item.tracking_url, "carrier's tracking page")]];
  if (!item.customer) rows.splice(2, 3, ["Customer", "not registered"]);
  for (const [name, value] of rows) {
    const dd = el("dd");
    dd.append(value);
    facts.append(el("dt", name), dd);
  }
  const list = $("notifications");
  list.replaceChildren();
  if (!item.notifications.length) list.append(el("li", "None yet."));
  for (const note of item.notifications) {
    const li = el("li");
    li.dataset.state = note.state;
    li.append(el("span", stamp(note.sent_at || note.created_at), "when"), el("strong", note.template),
              el("span", ` by ${note.channel} · ${note.state}` + (note.reason ? ` (${note.reason})` : "")));
    list.append(li);
  }
}

function render(item) {
  $("detail").hidden = false;
  $("detail").dataset.id = item.id;
  $("detail").dataset.state = item.state;
  $("detail-title").textContent = `#${item.id} · ${item.exception_class} · ${item.carrier} ${item.tracking_number}`;
  const facts = $("detail-facts");
  facts.replaceChildren();
  for (const [name, value] of [["State", item.state], ["Severity", item.severity], ["Owner", item.owner_role],
                               ["Assignee", item.assignee || "—"], ["SLA due", stamp(item.sla_due_at)],
                               ["Breached", item.breached ? "yes" : "no"], ["Opened", stamp(item.created_at)]]) {
    facts.append(el("dt", name), el("dd", value));
  }
  renderCustomer(item);
  $("ack").disabled = item.state !== "open";
  $("resolve").disabled = item.state === "resolved";
  $("assign").disabled = item.state === "resolved";
  const audit = $("audit");
  audit.replaceChildren();
  for (const entry of item.audit) {
    const li = el("li");
    li.append(el("span", stamp(entry.at), "when"), el("strong", entry.action), el("span", ` by ${entry.actor}`));
    if (entry.detail) li.append(el("span", ` — ${entry.detail}`));
    audit.append(li);
  }
}

function renderTimeline(shipment) {
  const list = $("timeline");
  list.replaceChildren();
  if (!shipment) { list.append(el("li", "No events stored for this shipment.")); return; }
  for (const event of shipment.events) {
    const li = el("li");
    const place = event.location ? [event.location.city, event.location.region, event.location.country]
      .filter(Boolean).join(", ") : "";
    li.append(el("span", stamp(event.occurred_at_local || event.occurred_at), "when"),
              el("strong", event.exception_class ? `${event.status} / ${event.exception_class}` : event.status),
              el("span", ` ${event.description}` + (place ? ` (${place})` : "")));
    list.append(li);
  }
}

function agent() {
  // The audit trail says who did it: no anonymous actions.
  $("action-error").textContent = "";
  const by = $("actor").value.trim();
  if (!by) {
    $("action-error").textContent = "Enter your name first: every action is recorded with it.";
    $("actor").focus();
  }
  return by;
}

async function change(action, extra = {}) {
  const by = agent();
  if (!by) return;
  const id = selected;
  const body = { by, note: $("note").value.trim() || undefined, ...extra };
  try {
    const item = await api(`/v1/escalations/${encodeURIComponent(id)}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (selected === id) {
      $("note").value = "";
      $("assignee").value = "";
      render(item);
    }
    await loadList();
  } catch (error) {
    $("action-error").textContent = error.message;
  }
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("app").hidden = true;
  $("signout").hidden = true;
  $("detail").hidden = true;
  selected = null;
  for (const id of ["actor", "note", "assignee"]) $(id).value = "";
  $("login").hidden = false;
  $("login-error").textContent = reason || "";
}

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  try { await loadList(); } catch (error) { if (error.message !== "unauthorized") $("summary").textContent = error.message; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("signout").addEventListener("click", () => signOut());
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadList().catch(() => {}); });
  for (const id of ["filter-state", "filter-severity"]) $(id).addEventListener("change", () => loadList().catch(() => {}));
  $("ack").addEventListener("click", () => change("acknowledge"));
  $("resolve").addEventListener("click", () => change("resolve"));
  $("assign").addEventListener("click", () => {
    if (!agent()) return;
    const assignee = $("assignee").value.trim();
    if (!assignee) { $("action-error").textContent = "Name an assignee."; $("assignee").focus(); return; }
    change("assign", { assignee });
  });
  setInterval(() => { if (token() && !document.hidden) loadList().catch(() => {}); }, REFRESH_MS);
  if (token()) start(); else signOut();
});
