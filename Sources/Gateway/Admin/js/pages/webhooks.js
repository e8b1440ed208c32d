// Webhook history: every event with its status and filters, one event's whole journey (raw delivery,
// parsed event, dispatch, attempts, decision) with replay, and the raw deliveries with reparse.

import { h, replace, badge, table, time, link, button, field, input, select, notice, jsonBlock,
  clearErrors, showErrors, errorView, details } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { decisionsView } from "./rules.js";
import { liveList } from "../live.js";
import { outcomeBadge } from "../labels.js";
import { barChart } from "../charts.js";
import { withKommoNames, parameterNames } from "../names.js";

const eventStatuses = ["", "pending", "delivered", "failed"];
const filterNames = ["type", "entity_type", "lead_id", "status", "origin", "from", "to", "text"];
const filterLabels = { type: "Event type", entity_type: "Entity", lead_id: "Lead id", status: "Status", origin: "Origin", from: "From", to: "To", text: "Words" };

export async function eventsPage(page, params, query) {
  const inputs = {
    type: input({ value: query.get("type") || "", placeholder: "lead_created, stage_changed, …" }),
    entity_type: input({ value: query.get("entity_type") || "", placeholder: "lead, contact, message, …" }),
    lead_id: input({ value: query.get("lead_id") || "" }),
    status: select(eventStatuses, query.get("status") || ""),
    origin: select(["", "kommo", "timer", "manual", "replay"], query.get("origin") || ""),
    from: input({ type: "datetime-local", value: query.get("from") || "" }),
    to: input({ type: "datetime-local", value: query.get("to") || "" }),
    text: input({ type: "search", value: query.get("text") || "" }),
  };
  const filters = h("form", { class: "filters" },
    h("div", { class: "form-errors" }),
    filterNames.map((name) => field(filterLabels[name], inputs[name], { name })),
    h("button", { type: "submit" }, "Filter"));
  const list = h("div", {});
  const values = () => {
    const out = {};
    for (const name of filterNames) {
      let value = inputs[name].value.trim();
      if (value && (name === "from" || name === "to")) value = new Date(value).toISOString();
      if (value) out[name] = value;
    }
    return out;
  };
  const load = () => {
    clearErrors(filters);
    replace(list, liveList((cursor) => api.get(url`/api/v1/webhooks/events`, { ...values(), cursor, limit: 50 }).then((r) => r.data).catch((error) => { showErrors(filters, error); throw error; }),
      (items) => eventsTable(items), { label: "New events appear by themselves: checked" }));
  };
  // The filters live in the address (#/webhooks?type=…&lead_id=…): a link to it shows the same list.
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const name of filterNames) { const value = inputs[name].value.trim(); if (value) params.set(name, value); }
    const target = `#/webhooks${params.toString() ? `?${params}` : ""}`;
    if (location.hash === target) load(); else location.hash = target;
  });
  load();
  page.append(h("h1", {}, "Webhook history"), filters, list, replayByFilterCard(values), statsCard());
}

/** Events per day, type and status. */
function statsCard() {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  api.get(url`/api/v1/webhooks/stats`).then((answer) => {
    const counts = (answer.data.counts || []).slice().sort((a, b) => String(b.day).localeCompare(String(a.day)) || String(a.type).localeCompare(String(b.type)));
    const days = [...new Set(counts.map((c) => c.day))].sort();
    const statuses = [...new Set(counts.map((c) => c.status))].sort();
    const perDay = (status) => days.map((day) => counts.filter((c) => c.day === day && c.status === status).reduce((sum, c) => sum + Number(c.count || 0), 0));
    replace(body, barChart("Events per day, by status", days, statuses.map((status) => ({ label: status, values: perDay(status),
      color: status === "delivered" ? "#137a3a" : status === "failed" ? "#b42318" : undefined })), { stacked: true }),
    h("h3", {}, "By type"), table([
      { title: "Day", cell: (c) => c.day },
      { title: "Type", cell: (c) => link(`#/webhooks?type=${encodeURIComponent(c.type)}`, c.type) },
      { title: "Status", cell: (c) => badge(c.status) },
      { title: "Events", cell: (c) => String(c.count) },
    ], counts, "No events yet."));
  }).catch((error) => replace(body, errorView(error)));
  return h("section", { class: "card" }, h("h2", {}, "Per day"), body);
}

export function eventsTable(items) {
  return table([
    { title: "Received", cell: (e) => time(e.received_at) },
    { title: "Event", cell: (e) => link(`#/webhooks/events/${encodeURIComponent(e.id)}`, e.type) },
    { title: "Entity", cell: (e) => `${e.entity_type} ${e.entity_id}` },
    { title: "Lead", cell: (e) => e.lead_id ? link(`#/leads/${encodeURIComponent(e.lead_id)}`, e.lead_id) : "—" },
    { title: "Origin", cell: (e) => e.origin },
    { title: "Status", cell: (e) => badge(e.status) },
    { title: "Actions", cell: (e) => String(e.actions) },
  ], items, "No events match.");
}

/** Replay by filter: first a preview of how many events match, then the run after confirmation. */
function replayByFilterCard(values) {
  const mode = select([["dry_run", "dry run (decide, write nothing)"], ["live", "live (a new journey)"]], "dry_run");
  const result = h("div", {});
  const card = h("section", { class: "card" }, h("h2", {}, "Replay the events of this filter"), field("Mode", mode), result);
  card.append(button("Preview", async () => {
    const filter = values();
    delete filter.lead_id;
    const body = { mode: mode.value, filter: { ...filter } };
    if (values().lead_id) body.filter.lead_id = values().lead_id;
    try {
      const preview = await api.post(url`/api/v1/webhooks/replay`, body);
      replace(result, notice("info", `${preview.data.matched} events match.`),
        preview.data.matched ? button(`Replay ${preview.data.matched} events (${mode.value})`, async () => {
          if (mode.value === "live" && !confirm("A live replay runs the actions again. Continue?")) return;
          try {
            const done = await api.post(url`/api/v1/webhooks/replay`, { ...body, confirm: true });
            replace(result, notice("ok", `Replayed ${done.data.matched} events.`),
              (done.data.new_event_ids || []).length ? h("p", {}, "New events: ", done.data.new_event_ids.map((id) => [link(`#/webhooks/events/${encodeURIComponent(id)}`, id), " "])) : null,
              (done.data.decisions || []).length ? decisionsView(done.data.decisions, { dryRun: body.mode === "dry_run" }) : null);
          } catch (error) { replace(result, errorView(error)); }
        }, { kind: "primary" }) : null);
    } catch (error) { replace(result, errorView(error)); }
  }));
  return card;
}

export async function eventPage(page, { eventId }) {
  const answer = await api.get(url`/api/v1/webhooks/events/${eventId}`);
  const d = answer.data;
  const e = d.event || {};
  const replayResult = h("div", { class: "replay-result", "aria-live": "polite" });
  const replay = (mode) => button(mode === "live" ? "Replay live" : "Replay (dry run)", async () => {
    if (mode === "live" && !confirm("A live replay is a new journey: its actions are carried out again. Continue?")) return;
    try {
      const r = await api.post(url`/api/v1/webhooks/events/${eventId}/replay`, { mode });
      const fresh = (r.data.new_event_ids || []).map((id) => [link(`#/webhooks/events/${encodeURIComponent(id)}`, id), " "]);
      if (r.data.mode === "live") {
        // A live replay is decided by the normal journey of its new event, not here.
        replace(replayResult, notice("ok", h("strong", {}, "Replayed live: "), fresh.length
          ? ["a new journey started as event ", fresh, ". Its decision and actions are on that event's page."]
          : "no new journey was started."));
      } else {
        replace(replayResult, notice("ok", h("strong", {}, "Dry run: "), "decided now on the stored event; nothing was written or sent."),
          decisionsView(r.data.decisions || [], { dryRun: true }));
      }
    } catch (error) { replace(replayResult, errorView(error)); }
  }, { kind: mode === "live" ? "danger" : "" });
  page.append(
    h("p", { class: "crumbs" }, link("#/webhooks", "Webhook history"), " / "),
    h("h1", {}, e.type || "Event", " ", badge(e.status)),
    h("dl", { class: "facts" },
      fact("Event id", h("code", {}, e.id)), fact("Entity", `${e.entity_type} ${e.entity_id}`),
      fact("Lead", e.lead_id ? link(`#/leads/${encodeURIComponent(e.lead_id)}`, e.lead_id) : "—"),
      fact("Origin", e.origin), fact("Occurred", time(e.occurred_at)), fact("Received", time(e.received_at)),
      fact("Delivery", e.delivery_id ? h("code", {}, e.delivery_id) : "—")),
    h("div", { class: "actions" }, replay("dry_run"), replay("live")),
    replayResult,
    h("section", { class: "card" }, h("h2", {}, "Dispatch"), table([
      { title: "Destination", cell: (x) => x.destination },
      { title: "Status", cell: (x) => badge(x.status) },
      { title: "Attempts", cell: (x) => String(x.attempts) },
      { title: "Last error", cell: (x) => x.last_error || "" },
      { title: "Next attempt", cell: (x) => time(x.next_attempt_at) },
      { title: "Delivered", cell: (x) => time(x.delivered_at) },
    ], d.dispatches || [], "Not dispatched.")),
    h("section", { class: "card" }, h("h2", {}, "Attempts"), table([
      { title: "At", cell: (x) => time(x.at) },
      { title: "Destination", cell: (x) => x.destination },
      { title: "Status", cell: (x) => badge(x.status) },
      { title: "ms", cell: (x) => String(x.duration_ms) },
      { title: "Error", cell: (x) => x.error || "" },
    ], d.attempts || [], "No attempts.")),
    h("section", { class: "card" }, h("h2", {}, "Decision"), d.decision ? decisionsView([d.decision]) : h("p", { class: "muted" }, "No decision yet.")),
    followedCard(e),
    h("section", { class: "card" }, h("h2", {}, "Parsed event"), d.parsed ? [parameterNames(d.parsed), jsonBlock(d.parsed)] : h("p", { class: "muted" }, "—")),
    h("section", { class: "card" }, h("h2", {}, "Raw delivery"), d.delivery ? deliveryView(d.delivery) : h("p", { class: "muted" }, "No delivery (a timer, manual or replayed event).")));
}

/** The action attempts that followed the event (its lead's attempts carrying the event's id), kept up to date. */
function followedCard(event) {
  const mine = (a) => a.event_id === event.id || String(a.event_id || "").startsWith(`${event.id}@`);
  const body = event.lead_id
    ? liveList(() => api.get(url`/api/v1/actions`, { lead_id: event.lead_id, limit: 100 }).then((answer) => ({ items: (answer.data.items || []).filter(mine) })),
      (items) => table([
        { title: "At", cell: (a) => time(a.at) },
        { title: "Type", cell: (a) => h("code", {}, a.action_type || a.type || "") },
        { title: "Target", cell: (a) => a.target || "" },
        { title: "Request", cell: (a) => withKommoNames(a.request_summary) },
        { title: "Outcome", cell: (a) => outcomeBadge(a.outcome, "action") },
        { title: "Detail", cell: (a) => withKommoNames(a.detail) },
      ], items, "No action has run for this event (yet)."), { label: "Checked" })
    : h("p", { class: "muted" }, "The event names no lead.");
  return h("section", { class: "card" }, h("h2", {}, "Actions that followed"), body);
}

function fact(name, value) {
  return [h("dt", {}, name), h("dd", {}, value)];
}

function deliveryView(delivery) {
  return h("div", {},
    h("dl", { class: "facts" }, fact("Delivery", h("code", {}, delivery.id)), fact("Status", badge(delivery.status)), fact("Received", time(delivery.received_at)),
      fact("Content type", delivery.content_type), delivery.reason ? fact("Reason", delivery.reason) : null),
    delivery.body_expired ? notice("info", "The raw body is past its retention period.")
      : delivery.body ? details("Body", h("pre", { class: "json", tabindex: "0" }, decodeForm(delivery.body))) : null);
}

/**
 * The deliveries, one row each; a body shown, and what a reparse answered, open in a row of their own
 * under it across the whole table, where they have room (inside a cell they were squeezed to a sliver).
 */
function deliveriesTable(items) {
  if (!items.length) return h("p", { class: "muted empty" }, "No deliveries.");
  const columns = ["Received", "Delivery", "Status", "Reason", "Events", "Body", ""];
  const rows = items.flatMap((d) => {
    const detail = h("td", { colspan: String(columns.length) });
    const detailRow = h("tr", { class: "detail-row", hidden: true }, detail);
    const bodyBox = d.body && !d.body_expired ? h("pre", { class: "json wide", tabindex: "0", hidden: true }, decodeForm(d.body)) : null;
    const result = h("div", { class: "reparse-result", "aria-live": "polite" });
    if (bodyBox) detail.append(bodyBox);
    detail.append(result);
    const showDetail = () => { detailRow.hidden = !((bodyBox && !bodyBox.hidden) || result.firstChild); };
    const toggle = bodyBox ? h("button", { type: "button", class: "small", "aria-expanded": "false" }, "Show body") : null;
    if (toggle) toggle.addEventListener("click", () => {
      bodyBox.hidden = !bodyBox.hidden;
      toggle.setAttribute("aria-expanded", String(!bodyBox.hidden));
      toggle.textContent = bodyBox.hidden ? "Show body" : "Hide body";
      showDetail();
    });
    // Only a body that did not parse can be parsed again (after a parser fix).
    const reparse = d.status === "unparsed" && !d.body_expired ? button("Reparse", async () => {
      try {
        const r = await api.post(url`/api/v1/webhooks/deliveries/${d.id}/reparse`, {});
        replace(result, notice("ok", `Reparsed: ${r.data.status}`, (r.data.event_ids || []).length ? [" — events ", r.data.event_ids.map((id) => [link(`#/webhooks/events/${encodeURIComponent(id)}`, id), " "])] : ""));
      } catch (error) { replace(result, errorView(error)); }
      showDetail();
    }, { kind: "small", title: "Parse the stored body again" }) : "";
    const cells = [time(d.received_at), h("code", {}, d.id), badge(d.status), d.reason || "",
      (d.event_ids || []).length ? d.event_ids.map((id) => [link(`#/webhooks/events/${encodeURIComponent(id)}`, id), " "]) : "—",
      d.body_expired ? h("span", { class: "muted" }, "expired") : toggle || "—", reparse];
    return [h("tr", {}, cells.map((c, i) => h("td", { "data-label": columns[i] }, c))), detailRow];
  });
  return h("div", { class: "table-wrap", tabindex: "0" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))), h("tbody", {}, rows)));
}

/** Kommo's form body, one `key = value` per line, decoded for reading. */
function decodeForm(body) {
  try {
    return body.split("&").map((pair) => {
      const [k, v = ""] = pair.split("=");
      return `${decodeURIComponent(k.replace(/\+/g, " "))} = ${decodeURIComponent(v.replace(/\+/g, " "))}`;
    }).join("\n");
  } catch {
    return body;
  }
}

export async function deliveriesPage(page, params, query) {
  const status = select(["", "accepted", "duplicate", "unparsed", "rejected"], query.get("status") || "");
  const list = h("div", {});
  const filters = h("form", { class: "filters" }, field("Status", status), h("button", { type: "submit" }, "Filter"));
  const load = () => replace(list, pagedList((cursor) => api.get(url`/api/v1/webhooks/deliveries`, { status: status.value, cursor, limit: 50 }).then((r) => r.data),
    (items) => deliveriesTable(items)));
  filters.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
  page.append(h("h1", {}, "Deliveries"), h("p", { class: "muted" }, "Every webhook body as it arrived, including the ones that did not parse (unparsed) or came from another Kommo account (rejected)."), filters, list);
}
