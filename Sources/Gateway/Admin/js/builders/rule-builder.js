// The rule editor: the rule's settings, a trigger picker with the fields of its type, the condition tree,
// the actions, and an "Advanced" JSON tab kept in sync with the builder both ways. The document the
// builder edits is the REST body itself; a save sends it (create) or a merge patch of what changed (edit).

import { h, replace, pretty, notice, fieldError, details, jsonBlock } from "../dom.js";
import { api, url } from "../api.js";
import { saveOnSubmit } from "../pages/forms.js";
import { loadCatalog, idPicker, keepingFocus } from "./catalog.js";
import { conditionTree, anchors } from "./condition-tree.js";
import { actionList, sampleValues, placeholders } from "./action-editors.js";
import { pathField, choose, text, number, duration } from "./controls.js";
import { jsonTab } from "./json-tab.js";

export const triggerTypes = [
  ["stage_changed", "The lead enters a stage (stage_changed)"], ["lead_created", "A lead is created (lead_created)"],
  ["lead_updated", "The lead changes (lead_updated)"], ["message_received", "A message comes in (message_received)"],
  ["time_based", "Time passes after a moment (time_based)"], ["manual", "Run by hand (manual)"],
  ["lead_mail_in", "Digital Pipeline: incoming e-mail (lead_mail_in)"], ["lead_call_in", "Digital Pipeline: incoming call (lead_call_in)"],
  ["lead_chat", "Digital Pipeline: chat message (lead_chat)"], ["lead_site_visit", "Digital Pipeline: site visit (lead_site_visit)"],
  ["customer_period", "Digital Pipeline: customer's period (customer_period)"],
];
const cancelEvents = [["inbound_message", "the lead writes"], ["outbound_message", "we write to the lead"], ["stage_change", "the lead changes stage"]];
const editable = ["name", "enabled", "priority", "trigger", "conditions", "actions", "cooldown_seconds", "max_fires_per_lead", "stop_processing"];

const starter = {
  name: "", enabled: true, priority: 0,
  trigger: { type: "stage_changed" },
  actions: [{ type: "create_task", text: "Call {{lead.name}}", due_in_seconds: 3600 }],
  cooldown_seconds: 0, stop_processing: false,
};

const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** The editable members of a stored rule (no id, timestamps or warnings). */
export function editableRule(rule) {
  const doc = {};
  for (const key of editable) if (rule[key] !== undefined && rule[key] !== null) doc[key] = clone(rule[key]);
  return doc;
}

/** The JSON text of `value` with every object's keys sorted: equal for equal documents in any key order. */
function canonical(value) {
  const sorted = (v) => {
    if (Array.isArray(v)) return v.map(sorted);
    if (!isObject(v)) return v;
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]));
  };
  return JSON.stringify(sorted(value));
}

/** RFC 7396 merge patch turning `before` into `after`: removed members become null, objects recurse.
 * Members equal in any key order are left out, so the JSON tab's reordering is no change. */
export function mergePatch(before, after) {
  const patch = {};
  for (const key of Object.keys(before)) if (after[key] === undefined || after[key] === null) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    if (value === undefined || value === null) continue;
    if (canonical(before[key]) === canonical(value)) continue;
    patch[key] = isObject(before[key]) && isObject(value) ? mergePatch(before[key], value) : value;
  }
  return patch;
}

/** The trigger's controls, by type. */
function triggerEditor(ctx, doc) {
  const container = h("div", { class: "trigger grid", "data-field": "trigger" });
  const draw = () => {
    const trigger = doc.trigger || (doc.trigger = { type: "manual" });
    const type = choose(triggerTypes, trigger.type, (value) => {
      doc.trigger = value === "time_based" ? { type: value, anchor: "stage_entered", after_seconds: 86400 } : { type: value };
      ctx.changed(); draw();
    }, { "data-role": "trigger-type" });
    if (!triggerTypes.some(([v]) => v === trigger.type)) type.append(h("option", { value: trigger.type, selected: true }, trigger.type));
    const parts = [pathField("When", type, "trigger.type")];
    const setID = (key) => (id) => { if (id === undefined) delete trigger[key]; else trigger[key] = id; ctx.changed(); };
    const stageControls = () => {
      parts.push(pathField("Pipeline (optional)", idPicker(ctx.catalog, "pipeline", trigger.pipeline_id, { optional: true, label: "Trigger pipeline",
        onchange: (id) => { setID("pipeline_id")(id); draw(); } }), "trigger.pipeline_id"));
      parts.push(pathField("Stage (optional)", idPicker(ctx.catalog, "stage", trigger.stage_id, { optional: true, pipelineID: trigger.pipeline_id, label: "Trigger stage",
        onchange: setID("stage_id") }), "trigger.stage_id", ctx.catalog.connected ? undefined : "a stage id; empty for any stage"));
    };
    if (trigger.type === "stage_changed") stageControls();
    if (trigger.type === "time_based") {
      parts.push(pathField("After", choose(anchors, trigger.anchor, (value) => {
        trigger.anchor = value;
        if (value !== "stage_entered") { delete trigger.pipeline_id; delete trigger.stage_id; }
        ctx.changed(); draw();
      }), "trigger.anchor"));
      parts.push(duration("Wait", trigger.after_seconds, (s) => { if (s === undefined) delete trigger.after_seconds; else trigger.after_seconds = s; ctx.changed(); }, "trigger.after_seconds"));
      const active = new Set(trigger.cancel_on || ["inbound_message"]);
      const boxes = cancelEvents.map(([value, label]) => {
        const box = h("input", { type: "checkbox", checked: active.has(value), value });
        box.addEventListener("change", () => {
          trigger.cancel_on = cancelEvents.map(([v]) => v).filter((v) => (v === value ? box.checked : active.has(v)));
          if (box.checked) active.add(value); else active.delete(value);
          ctx.changed();
        });
        return h("label", { class: "check" }, box, " ", label);
      });
      parts.push(h("div", { class: "field", "data-field": "trigger.cancel_on" }, h("span", { class: "label" }, "Not if, meanwhile"), h("div", { class: "checks" }, boxes),
        h("div", { class: "field-error", role: "alert" })));
      if (trigger.anchor === "stage_entered") stageControls();
    }
    replace(container, parts, h("div", { class: "field", "data-field": "trigger" }, h("div", { class: "field-error", role: "alert" })));
  };
  draw();
  container.redraw = draw;
  return container;
}

/** The rule's own settings (name, priority, limits). */
function settingsEditor(ctx, doc) {
  const container = h("div", { class: "grid" });
  const draw = () => {
    const flag = (key, label) => {
      const box = h("input", { type: "checkbox", checked: key === "enabled" ? doc.enabled !== false : Boolean(doc[key]) });
      box.addEventListener("change", () => { doc[key] = box.checked; ctx.changed(); });
      return pathField(label, box, key);
    };
    replace(container,
      pathField("Name", text(doc.name, (v) => { doc.name = v; ctx.changed(); }), "name"),
      pathField("Priority", number(doc.priority ?? 0, (n) => { doc.priority = n ?? 0; ctx.changed(); }), "priority", "Higher runs first."),
      duration("Cooldown per lead", doc.cooldown_seconds ?? 0, (s) => { doc.cooldown_seconds = s ?? 0; ctx.changed(); }, "cooldown_seconds", { hint: "0: no cooldown." }),
      pathField("Max fires per lead", number(doc.max_fires_per_lead, (n) => { if (n === undefined) delete doc.max_fires_per_lead; else doc.max_fires_per_lead = n; ctx.changed(); },
        { min: 1, placeholder: "no limit" }), "max_fires_per_lead"),
      flag("enabled", "Enabled"), flag("stop_processing", "Stop lower-priority rules when it fires"));
  };
  draw();
  container.redraw = draw;
  return container;
}

/** Inputs for the sample values the template previews use, one per variable the actions mention. */
function samplesEditor(ctx, doc) {
  const lead = h("input", { type: "text", inputmode: "numeric", placeholder: "a Kommo lead id", spellcheck: "false" });
  lead.addEventListener("input", () => {
    const id = lead.value.trim();
    ctx.sample.setLead(/^\d+$/.test(id) && Number(id) > 0 ? Number(id) : undefined);
  });
  const leadField = pathField("Preview for lead", lead, "", "With a lead, the previews use what is known of it; the values below go on top.");
  const container = h("div", { class: "grid samples" });
  let shown = "";
  const draw = () => {
    const names = placeholders(JSON.stringify(doc.actions || []).replace(/\\"/g, "\"")).map((p) => p.name);
    const key = names.join("\n");
    if (key === shown) return;
    shown = key;
    replace(container, names.length ? names.map((name) => {
      const box = h("input", { type: "text", value: ctx.sample.values[name.toLowerCase()] ?? "" });
      box.addEventListener("input", () => ctx.sample.set(name, box.value));
      return pathField(name, box, "");
    }) : h("p", { class: "muted small" }, "The actions use no variables."));
  };
  draw();
  const wrapper = h("div", {}, leadField, container);
  wrapper.redraw = draw;
  return wrapper;
}

/**
 * Create (`rule` null) or edit form of a rule. `done(saved, etag)` gets the stored rule.
 * The builder and the JSON tab edit one document; the JSON tab refuses to hand back text that is not JSON.
 */
export function ruleBuilder(agentID, rule, etag, done) {
  const stored = rule ? editableRule(rule) : {};
  const doc = rule ? editableRule(rule) : clone(starter);
  const jsonPanel = jsonTab("Rule JSON");
  const listeners = [];
  const ctx = {
    catalog: { connected: false, pipelines: [], users: [], custom_fields: { leads: [], contacts: [], companies: [] }, tags: { leads: [], contacts: [], companies: [] }, task_types: [] },
    sample: sampleValues(),
    changed: () => { for (const l of listeners) l(); },
    scripts: () => api.get(url`/api/v1/agents/${agentID}/scripts`, { limit: 100 }).then((r) => (r.data.items || []).map((s) => ({ id: s.id, name: s.name }))),
    sequences: () => api.get(url`/api/v1/agents/${agentID}/sequences`, { limit: 100 }).then((r) => (r.data.items || []).map((s) => ({ id: s.id, name: s.name }))),
    renderTemplate: (template, lead, values) => api.post(url`/api/v1/agents/${agentID}/templates/render`, { template, lead_id: lead, values }).then((r) => r.data),
  };
  const settings = settingsEditor(ctx, doc);
  const trigger = triggerEditor(ctx, doc);
  const tree = conditionTree(ctx, doc);
  const actions = actionList(ctx, doc);
  const samples = samplesEditor(ctx, doc);
  listeners.push(samples.redraw);
  const redrawAll = () => { settings.redraw(); trigger.redraw(); tree.redraw(); actions.redraw(); samples.redraw(); };
  const catalogNote = h("p", { class: "muted small" }, "Loading the Kommo account's pipelines, users and fields…");
  loadCatalog().then((catalog) => {
    ctx.catalog = catalog;
    replace(catalogNote, catalog.connected
      ? `Pipelines, stages, users and fields by name from the Kommo account ${catalog.account ? catalog.account.name || catalog.account.subdomain : ""}.`
      : "No Kommo account is connected: pipelines, stages and users are entered by id.");
    if (catalog.connected) keepingFocus(redrawAll);
  });

  const builderPanel = h("div", { class: "tab-panel", id: `rule-builder-${agentID}`, role: "tabpanel" },
    catalogNote,
    h("section", { class: "builder-section" }, h("h3", {}, "Settings"), settings),
    h("section", { class: "builder-section" }, h("h3", {}, "Trigger"), trigger),
    h("section", { class: "builder-section" }, h("h3", {}, "Conditions"), tree),
    h("section", { class: "builder-section" }, h("h3", {}, "Actions"), actions,
      details("Preview values", h("p", { class: "muted small" }, "The previews under the texts fill the variables with a lead's values or these."), samples)));
  const tabs = tabBar([["Builder", builderPanel], ["JSON (advanced)", jsonPanel]], (panel) => {
    if (panel === builderPanel) return takeJSON();
    jsonPanel.set(pretty(doc));
    return true;
  });

  /** Puts the JSON tab's document into the builder; false (with the error shown) when it is not a rule object. */
  function takeJSON() {
    jsonPanel.showError("");
    let value;
    try { value = JSON.parse(jsonPanel.get()); } catch (e) { jsonPanel.showError(`Not valid JSON: ${e.message}`); return false; }
    if (!isObject(value)) { jsonPanel.showError("The rule is a JSON object."); return false; }
    for (const key of Object.keys(doc)) delete doc[key];
    Object.assign(doc, value);
    redrawAll();
    return true;
  }

  const form = h("form", { class: "card rule-builder", novalidate: true },
    h("h2", {}, rule ? "Edit rule" : "New rule"),
    h("div", { class: "form-errors" }),
    tabs, builderPanel, jsonPanel,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, rule ? "Save" : "Create rule")),
    rule ? details("Stored JSON", jsonBlock(rule)) : null);
  saveOnSubmit(form, {
    prepare: () => jsonPanel.hidden || takeJSON(),  // the JSON tab says why it cannot be taken
    // An edit is sent as a merge patch against the stored rule (the one read again when overwriting).
    body: (current) => (rule ? mergePatch(current ? editableRule(current) : stored, doc) : doc),
    unchanged: (patch) => Object.keys(patch).length === 0,
    create: (value, options) => api.post(url`/api/v1/agents/${agentID}/rules`, value, options),
    update: rule && ((value, options) => api.patch(url`/api/v1/agents/${agentID}/rules/${rule.id}`, value, options)),
    etag, reread: rule && (() => api.get(url`/api/v1/agents/${agentID}/rules/${rule.id}`)), done,
    // Field errors are shown at the builder's controls, so the builder is shown for them.
    onError: (error) => { if (!jsonPanel.hidden && error.problem && (error.problem.errors || []).length) tabs.select(0); },
  });
  form.builderDocument = doc;
  return form;
}

/** A row of tabs over `panels` ([title, element]); `canLeave(nextPanel)` may refuse a switch. */
export function tabBar(panels, canSwitch) {
  const bar = h("div", { class: "tabs builder-tabs", role: "tablist" });
  const buttons = panels.map(([title, panel], index) => {
    const b = h("button", { type: "button", role: "tab", class: index === 0 ? "tab active" : "tab", "aria-selected": index === 0 ? "true" : "false" }, title);
    b.addEventListener("click", () => select(index));
    return b;
  });
  function select(index) {
    const [, panel] = panels[index];
    if (!panel.hidden) return;
    if (canSwitch && canSwitch(panel) === false) return;
    panels.forEach(([, p], i) => {
      p.hidden = i !== index;
      buttons[i].classList.toggle("active", i === index);
      buttons[i].setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (panel.onShown) panel.onShown();
  }
  bar.append(...buttons);
  bar.select = select;
  return bar;
}

