// Rules of an agent: the list (enable/disable) with the cycles the cascade bound stopped, create and edit
// with the server's field errors next to the fields, a dry run on an event, a manual run for a lead, and
// the rule's statistics.

import { h, pretty, replace, badge, table, time, link, button, field, input, textarea, checkbox, notice, jsonBlock,
  showErrors, clearErrors, errorView, parseJSON, details } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { formCard, saveOnSubmit, showSaved, titleRow, deleteButton } from "./forms.js";
import { agentHeader } from "./agents.js";
import { outcomeBadge } from "../labels.js";
import { ruleStatsView } from "../charts.js";
import { cascadesCard, cascadeView } from "./cascades.js";
import { picker, triggers, conditions as conditionExamples, actions as actionExamples, addCondition, addToList } from "../templates.js";

const example = {
  name: "Qualified lead: call within the hour",
  enabled: true,
  priority: 10,
  trigger: { type: "stage_changed", pipeline_id: 7100001, stage_id: 61234502 },
  conditions: { all: [{ type: "field_value", field: "cf.Budget", operator: "in", values: ["2500-5000", "5000+"] }] },
  actions: [{ type: "create_task", text: "Call {{lead.name}}", due_in_seconds: 3600, task_type: 1 }],
  cooldown_seconds: 3600,
};

export async function rulesPage(page, { id }) {
  await agentHeader(page, id, "/rules");
  const formSlot = h("div", {});
  page.append(
    titleRow(h("h2", {}, "Rules"), "New rule", formSlot, (done) => ruleForm(id, null, "", done),
      (rule) => `#/agents/${encodeURIComponent(id)}/rules/${encodeURIComponent(rule.id)}`),
    formSlot,
    pagedList((cursor) => api.get(url`/api/v1/agents/${id}/rules`, { cursor, limit: 50 }).then((r) => r.data), (items) => table([
      { title: "Name", cell: (r) => link(`#/agents/${encodeURIComponent(id)}/rules/${encodeURIComponent(r.id)}`, r.name) },
      { title: "Trigger", cell: (r) => h("code", {}, (r.trigger && r.trigger.type) || "") },
      { title: "Priority", cell: (r) => String(r.priority ?? 0) },
      { title: "Actions", cell: (r) => (r.actions || []).map((a) => a.type).join(", ") },
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
  const drawForm = () => replace(formSlot, ruleForm(id, rule, etag, (saved, tag) => {
    rule = saved; etag = tag; drawForm();
    showSaved(formSlot.querySelector(".form-errors"), saved);
  }));
  drawForm();
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

/** Create (`rule` null) or edit form: one input per top-level member, JSON for the nested ones. */
function ruleForm(agentID, rule, etag, done) {
  const r = rule || example;
  const name = input({ value: r.name || "" });
  const enabled = checkbox(r.enabled !== false);
  const priority = input({ type: "number", value: r.priority ?? 0 });
  const cooldown = input({ type: "number", min: 0, value: r.cooldown_seconds ?? 0 });
  const maxFires = input({ type: "number", min: 0, value: r.max_fires_per_lead ?? "", placeholder: "no limit" });
  const stop = checkbox(Boolean(r.stop_processing));
  const json = (value, rows) => { const t = textarea({ rows, class: "code", spellcheck: "false" }); t.value = value === undefined || value === null ? "" : pretty(value); return t; };
  const trigger = json(r.trigger, 6);
  const conditions = json(r.conditions, 8);
  const actions = json(r.actions, 8);
  const form = formCard(rule ? "Edit rule" : "New rule",
    h("div", { class: "grid" },
      field("Name", name, { name: "name" }),
      field("Priority", priority, { name: "priority", hint: "Higher runs first." }),
      field("Cooldown per lead (s)", cooldown, { name: "cooldown_seconds" }),
      field("Max fires per lead", maxFires, { name: "max_fires_per_lead" }),
      field("Enabled", enabled, { name: "enabled" }),
      field("Stop processing lower rules", stop, { name: "stop_processing" })),
    field("Trigger (JSON)", trigger, { name: "trigger", extra: picker("Use this trigger", triggers, trigger, "trigger", (_, example) => example) }),
    field("Conditions (JSON, empty = always)", conditions, { name: "conditions",
      extra: picker("Add condition", conditionExamples, conditions, "conditions", addCondition),
      hint: "A tree: {\"all\": […]}, {\"any\": […]}, {\"not\": {…}} over leaves; each leaf's keys depend on its type." }),
    field("Actions (JSON list)", actions, { name: "actions", extra: picker("Add action", actionExamples, actions, "actions", addToList),
      hint: "Planned in order when the rule fires. Texts are templates: {{lead.name}}, {{contact.first_name|default}}." }),
    h("button", { type: "submit", class: "primary" }, rule ? "Save" : "Create rule"),
    rule ? details("Stored JSON", jsonBlock(rule)) : null);
  saveOnSubmit(form, {
    create: (value, options) => api.post(url`/api/v1/agents/${agentID}/rules`, value, options),
    update: rule && ((value, options) => api.patch(url`/api/v1/agents/${agentID}/rules/${rule.id}`, value, options)), etag, done,
    body() {
      const body = {
        name: name.value, enabled: enabled.checked, priority: Number(priority.value || 0), cooldown_seconds: Number(cooldown.value || 0),
        stop_processing: stop.checked,
        trigger: parseJSON(trigger.value, "trigger"),
        actions: parseJSON(actions.value, "actions"),
      };
      const tree = parseJSON(conditions.value, "conditions", { optional: true });
      if (tree !== undefined) body.conditions = tree; else if (rule) body.conditions = null;
      if (maxFires.value !== "") body.max_fires_per_lead = Number(maxFires.value); else if (rule) body.max_fires_per_lead = null;
      return body;
    },
  });
  return form;
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
        : mode.value === "event_id" ? { event_id: eventID.value.trim() } : { last: Number(last.value) };
      const answer = await api.post(url`/api/v1/agents/${agentID}/rules/${ruleID}/test`, body);
      replace(result, decisionsView(answer.data.results || []));
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

/** Decisions as the rule engine explains them. */
export function decisionsView(decisions) {
  if (!decisions.length) return notice("info", "No event to evaluate.");
  return decisions.map((d) => h("div", { class: "decision" },
    h("h3", {}, "Event ", d.event_id ? link(`#/webhooks/events/${encodeURIComponent(d.event_id)}`, d.event_id) : "—"),
    cascadeView(d.cascade),
    table([
      { title: "Rule", cell: (x) => x.rule_name || x.rule_id },
      { title: "Outcome", cell: (x) => outcomeBadge(x.outcome) },
      { title: "Why", cell: (x) => x.detail },
      { title: "Failing condition", cell: (x) => x.failing_leaf ? h("code", {}, x.failing_leaf) : "" },
    ], d.explanations || [], "No rule was reached by this event."),
    (d.actions || []).length ? h("div", {}, h("h4", {}, "Actions it would plan"), table([
      { title: "#", cell: (a) => String(a.action_index) },
      { title: "Type", cell: (a) => h("code", {}, a.type) },
      { title: "Parameters", cell: (a) => jsonBlock(a.parameters) },
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
