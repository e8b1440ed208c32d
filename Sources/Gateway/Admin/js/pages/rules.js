// Rules of an agent: the list (enable/disable) with the cycles the cascade bound stopped, create and edit
// with the server's field errors next to the fields, a dry run on an event, a manual run for a lead, and
// the rule's statistics.

import { h, pretty, replace, badge, table, time, link, button, field, input, textarea, checkbox, notice, jsonBlock,
  showErrors, clearErrors, errorView, parseJSON, details, fieldError } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { showSaved, takeFlash, titleRow, deleteButton } from "./forms.js";
import { agentHeader } from "./agents.js";
import { outcomeBadge } from "../labels.js";
import { ruleStatsView } from "../charts.js";
import { cascadesCard, cascadeView } from "./cascades.js";
import { ruleBuilder } from "../builders/rule-builder.js";
import { withKommoNames, parameterNames, triggerView } from "../names.js";

export async function rulesPage(page, { id }) {
  await agentHeader(page, id, "/rules");
  const formSlot = h("div", {});
  page.append(
    titleRow(h("h2", {}, "Rules"), "New rule", formSlot, (done) => ruleBuilder(id, null, "", done),
      (rule) => `#/agents/${encodeURIComponent(id)}/rules/${encodeURIComponent(rule.id)}`),
    formSlot,
    pagedList((cursor) => api.get(url`/api/v1/agents/${id}/rules`, { cursor, limit: 50 }).then((r) => r.data), (items) => table([
      { title: "Name", cell: (r) => link(`#/agents/${encodeURIComponent(id)}/rules/${encodeURIComponent(r.id)}`, r.name) },
      { title: "Trigger", cell: (r) => triggerView(r.trigger) },
      { title: "Priority", cell: (r) => String(r.priority ?? 0) },
      // An action that sets a field says which, by name: "set_field cf.Source (512302)".
      { title: "Actions", cell: (r) => (r.actions || []).flatMap((a, i) => [i ? ", " : "", a.type, a.field ? [" ", withKommoNames(a.field)] : ""]) },
      { title: "Enabled", cell: (r) => enableToggle(id, r) },
      { title: "Updated", cell: (r) => time(r.updated_at) },
    ], items, "No rules yet.")),
    cascadesCard(id));
}

/** A switch that PATCHes `enabled`; it re-reads the rule for its ETag so a stale list cannot overwrite an edit. */
function enableToggle(agentID, rule) {
  const box = checkbox(rule.enabled !== false, { "aria-label": `Enabled: ${rule.name}` });
  const slot = h("label", { class: "toggle" }, box, " ", badge(rule.enabled !== false ? "enabled" : "disabled"));
  box.addEventListener("change", async () => {
    box.disabled = true;
    try {
      const current = await api.get(url`/api/v1/agents/${agentID}/rules/${rule.id}`);
      const saved = await api.patch(url`/api/v1/agents/${agentID}/rules/${rule.id}`, { enabled: box.checked }, { ifMatch: current.etag });
      rule.enabled = saved.data.enabled;
      replace(slot, box, " ", badge(rule.enabled ? "enabled" : "disabled"));
    } catch (error) {
      box.checked = !box.checked;
      slot.append(errorView(error));
    } finally {
      box.disabled = false;
    }
  });
  return slot;
}

export async function rulePage(page, { id, ruleId }) {
  await agentHeader(page, id, "/rules");
  const answer = await api.get(url`/api/v1/agents/${id}/rules/${ruleId}`);
  let rule = answer.data;
  let etag = answer.etag;
  const formSlot = h("div", {});
  const drawForm = () => replace(formSlot, ruleBuilder(id, rule, etag, (saved, tag) => {
    rule = saved; etag = tag; drawForm();
    showSaved(formSlot.querySelector(".form-errors"), saved);
  }));
  drawForm();
  takeFlash(formSlot.querySelector(".form-errors"), rule.id);
  page.append(
    h("p", { class: "crumbs" }, link(`#/agents/${encodeURIComponent(id)}/rules`, "All rules")),
    h("div", { class: "actions" }, deleteButton("Delete rule", {
      question: () => `Delete the rule "${rule.name}"?`, remove: () => api.delete(url`/api/v1/agents/${id}/rules/${ruleId}`),
      back: `#/agents/${encodeURIComponent(id)}/rules`, onError: (view) => formSlot.prepend(view) })),
    formSlot,
    testCard(id, ruleId),
    runCard(id, ruleId),
    statsCard(id, ruleId));
}

/** Dry run: the rule on an inline event, a stored event, or the last N events; nothing is written. */
function testCard(agentID, ruleID) {
  const mode = h("select", {}, h("option", { value: "event" }, "An event I describe"), h("option", { value: "event_id" }, "A stored event (id)"), h("option", { value: "last" }, "The last N events"));
  const event = textarea({ rows: 6, class: "code", spellcheck: "false" });
  event.value = pretty({ type: "stage_changed", lead_id: "1001", pipeline_id: "7100001", status_id: "61234502", old_status_id: "61234501", fields: { "cf.Budget": "5000+" } });
  const eventID = input({ placeholder: "ev_…" });
  const last = input({ type: "number", min: 1, max: 50, value: 5 });
  const result = h("div", {});
  const form = h("form", { class: "card" },
    h("h2", {}, "Test (dry run)"),
    h("p", { class: "muted" }, "Explains why the rule fires or not, with the actions it would plan. Nothing is stored or sent."),
    h("div", { class: "form-errors" }),
    field("Try it on", mode),
    field("Event (JSON)", event, { name: "event", hint: "type, lead_id, pipeline_id, status_id, old_status_id, text, origin, fields (ids as strings)" }),
    field("Event id", eventID, { name: "event_id" }),
    field("Last N events", last, { name: "last" }),
    h("button", { type: "submit", class: "primary" }, "Run the test"),
    result);
  const show = () => {
    for (const [name, wanted] of [["event", "event"], ["event_id", "event_id"], ["last", "last"]]) {
      form.querySelector(`[data-field="${name}"]`).hidden = mode.value !== wanted;
    }
  };
  mode.addEventListener("change", show);
  show();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    replace(result);
    try {
      const body = mode.value === "event" ? { event: parseJSON(event.value, "event") }
        : mode.value === "event_id" ? { event_id: requiredText(eventID.value, "event_id") } : { last: Number(last.value) };
      const answer = await api.post(url`/api/v1/agents/${agentID}/rules/${ruleID}/test`, body);
      replace(result, decisionsView(answer.data.results || [], { dryRun: true }));
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

/** A trimmed text field's value, or a field error when it is empty. */
function requiredText(value, name) {
  const text = String(value || "").trim();
  if (!text) throw fieldError(name, "is required: paste the id of an event from the webhook history");
  return text;
}

/**
 * Decisions as the rule engine explains them. `dryRun`: nothing was carried out, so the actions are the
 * ones it would plan; otherwise they are the ones it planned. An event described inline for a test
 * (`ev_test_…`) is not stored, so its id is shown without a link.
 */
export function decisionsView(decisions, { dryRun = false } = {}) {
  if (!decisions.length) return notice("info", "No event to evaluate.");
  const eventRef = (id) => !id ? "—" : id.startsWith("ev_test_") ? h("span", {}, h("code", {}, id), h("span", { class: "muted small" }, " (the test event; not stored)"))
    : link(`#/webhooks/events/${encodeURIComponent(id)}`, id);
  return decisions.map((d) => h("div", { class: "decision" },
    h("h3", {}, "Event ", eventRef(d.event_id)),
    cascadeView(d.cascade),
    table([
      { title: "Rule", cell: (x) => x.rule_name || x.rule_id },
      { title: "Outcome", cell: (x) => outcomeBadge(x.outcome) },
      { title: "Why", cell: (x) => withKommoNames(x.detail) },
      { title: "Failing condition", cell: (x) => x.failing_leaf ? h("code", {}, x.failing_leaf) : "" },
    ], d.explanations || [], "No rule was reached by this event."),
    (d.actions || []).length ? h("div", {}, h("h4", {}, dryRun || d.dry_run ? "Actions it would plan" : "Actions it planned"), table([
      { title: "#", cell: (a) => String(a.action_index) },
      { title: "Type", cell: (a) => h("code", {}, a.type) },
      { title: "Parameters", cell: (a) => [parameterNames(a.parameters), jsonBlock(a.parameters)] },
    ], d.actions)) : null,
    (d.timers || []).length ? h("div", {}, h("h4", {}, "Timers"), table([
      { title: "Due", cell: (t) => time(t.due_at) },
      { title: "Anchor", cell: (t) => t.anchor },
      { title: "Lead", cell: (t) => t.lead_id ? link(`#/leads/${encodeURIComponent(t.lead_id)}`, String(t.lead_id)) : "" },
    ], d.timers)) : null));
}

/** Manual run: a `manual` event through ingest, the normal journey (actions really happen). */
function runCard(agentID, ruleID) {
  const lead = input({ placeholder: "Kommo lead id" });
  const result = h("div", {});
  const form = h("form", { class: "card" },
    h("h2", {}, "Run for a lead"),
    h("p", { class: "muted" }, "Sends a manual event for the lead through the normal journey: the actions are carried out."),
    h("div", { class: "form-errors" }),
    field("Lead id", lead, { name: "lead_id" }),
    h("button", { type: "submit" }, "Run"),
    result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    try {
      const answer = await api.post(url`/api/v1/agents/${agentID}/rules/${ruleID}/run`, { lead_id: lead.value.trim() });
      replace(result, notice("ok", "Accepted: event ", link(`#/webhooks/events/${encodeURIComponent(answer.data.event_id)}`, answer.data.event_id), ` (${answer.data.status}).`));
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

function statsCard(agentID, ruleID) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  api.get(url`/api/v1/agents/${agentID}/rules/${ruleID}/stats`)
    .then((answer) => replace(body, ruleStatsView(answer.data)))
    .catch((error) => replace(body, errorView(error)));
  return h("section", { class: "card" }, h("h2", {}, "Statistics"), body);
}

/** A stats report: its numbers as tiles, the rest as JSON. */
export function statsView(report) {
  const numbers = Object.entries(report || {}).filter(([, v]) => typeof v === "number");
  const rest = Object.fromEntries(Object.entries(report || {}).filter(([, v]) => typeof v !== "number"));
  return h("div", {},
    numbers.length ? h("div", { class: "stats" }, numbers.map(([k, v]) => h("div", { class: "stat" }, h("span", { class: "value" }, String(Math.round(v * 1000) / 1000)), h("span", { class: "label" }, k.replace(/_/g, " "))))) : null,
    Object.keys(rest).length ? details("Details", jsonBlock(rest)) : null);
}
