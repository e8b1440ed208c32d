// A lead's timeline: its events, the decisions on them, its enrollments, the actions taken for it and
// its conversation, newest first; and every action attempt with its outcome.

import { h, badge, table, time, link, field, input, jsonBlock, details } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { resumeCard } from "./lead-agent.js";
import { cascadeSummary } from "./cascades.js";
import { sequenceLink, withKommoNames } from "../names.js";
import { outcomeBadge } from "../labels.js";
import { inDoubtButtons } from "./in-doubt.js";

export async function leadsPage(page, { leadId }) {
  const lead = input({ value: leadId || "", placeholder: "Kommo lead id", inputmode: "numeric" });
  const form = h("form", { class: "filters" }, field("Lead", lead), h("button", { type: "submit", class: "primary" }, "Show timeline"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = lead.value.trim();
    if (value) location.hash = `#/leads/${encodeURIComponent(value)}`;
  });
  page.append(h("h1", {}, leadId ? `Lead ${leadId}` : "Lead timeline"), form);
  if (!leadId) return;
  page.append(
    resumeCard(leadId),
    h("section", { class: "card" }, h("h2", {}, "Timeline"),
      pagedList((cursor) => api.get(url`/api/v1/leads/${leadId}/timeline`, { cursor, limit: 50 }).then((r) => r.data), (items) => table([
        { title: "At", cell: (i) => time(i.at) },
        { title: "Kind", cell: (i) => h("code", {}, i.kind || "") },
        { title: "What", cell: summary },
        { title: "Status", cell: (i) => i.status || i.outcome || i.state ? badge(i.status || i.outcome || i.state) : "" },
        { title: "", cell: (i) => details("all", jsonBlock(i)) },
      ], items, "Nothing recorded for this lead."))),
    h("section", { class: "card" }, h("h2", {}, "Action attempts"),
      pagedList((cursor) => api.get(url`/api/v1/actions`, { lead_id: leadId, cursor, limit: 50 }).then((r) => r.data), (items) => table([
        { title: "At", cell: (a) => time(a.at) },
        { title: "Type", cell: (a) => h("code", {}, a.type || a.action_type || "") },
        { title: "Target", cell: (a) => a.target || "" },
        { title: "Request", cell: (a) => h("span", { class: "clip" }, withKommoNames(a.request_summary)) },
        { title: "Outcome", cell: (a) => a.outcome ? outcomeBadge(a.outcome, "action") : badge(a.status) },
        { title: "ms", cell: (a) => a.latency_ms == null ? "" : String(a.latency_ms) },
        { title: "Detail", cell: (a) => h("span", { class: "clip" }, withKommoNames(a.detail)) },
        { title: "", cell: (a) => inDoubtButtons(a) },
      ], items, "No actions for this lead."))),
    h("p", {}, link(`#/webhooks?lead_id=${encodeURIComponent(leadId)}`, "Filter the webhook history by this lead")));
}

/** One line for a timeline item, by its kind. */
function summary(item) {
  const event = item.event_id ? link(`#/webhooks/events/${encodeURIComponent(item.event_id)}`, item.type || item.event_id) : null;
  switch (item.kind) {
    case "event":
      return h("span", {}, event, ` ${item.entity_type || ""} ${item.entity_id || ""} · ${item.origin || ""}`);
    case "decision": {
      const fired = (item.fired || []).map((f) => f.rule_name || f.rule_id);
      return h("span", {}, fired.length ? `Fired: ${fired.join(", ")}` : "No rule fired", ` · ${item.not_fired || 0} not fired`,
        (item.actions || []).length ? ` · planned ${(item.actions || []).map((a) => a.action_type).join(", ")}` : "",
        cascadeSummary(item.cascade), " · on ", event);
    }
    case "enrollment":
      return h("span", {}, "Sequence ", sequenceLink(item.sequence_id), item.reason ? ` · ${item.reason}` : "");
    case "message":
      return h("span", { class: "clip" }, `${item.direction === "outgoing" ? "→" : "←"}${item.author ? ` (${item.author})` : ""} ${item.text || ""}`);
    default:
      return h("span", { class: "clip" }, withKommoNames([item.action_type, item.operation, item.target, item.request_summary].filter(Boolean).join(" · ")));
  }
}
