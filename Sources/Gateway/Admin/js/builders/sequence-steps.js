// The sequence editor: trigger and entry filters, one row per step (its wait as number + unit and its
// action, with the rules' action editors), reordering by buttons, keyboard and drag, the send window and
// the exit conditions as controls, and the JSON as an "Advanced" tab. Every edit, a reorder included,
// stays in the form until Save, which sends one merge patch (Sources/Sequences/Enrollment/SequenceDefinition.swift
// is what the server accepts).

import { h, replace, pretty, fieldError, details, jsonBlock } from "../dom.js";
import { api, url } from "../api.js";
import { saveOnSubmit } from "../pages/forms.js";
import { loadCatalog, idPicker, keepingFocus } from "./catalog.js";
import { actionCard, actionTypes, newAction, sampleValues } from "./action-editors.js";
import { pathField, choose, text, duration, hoursControls, defaultHours } from "./controls.js";
import { mergePatch, tabBar } from "./rule-builder.js";
import { jsonTab } from "./json-tab.js";

const editable = ["name", "status", "trigger", "entry_filters", "steps", "send_window", "exit_conditions", "re_enrollment"];
const stepActions = actionTypes.filter(([type]) => type !== "start_sequence");
const exitTypes = [["lead_replied", "the lead replies"], ["stage_changed", "the lead changes stage"], ["lead_deleted", "the lead is deleted"], ["manual", "someone cancels it (always possible)"]];
const triggerTypes = [["stage_changed", "The lead enters a stage"], ["lead_created", "A lead is created"], ["manual", "Enrolled by hand"], ["rule", "A rule's start_sequence action"]];
const delayKeys = ["delay_seconds", "delay_minutes", "delay_hours", "delay_days"];
const factor = { delay_seconds: 1, delay_minutes: 60, delay_hours: 3600, delay_days: 86400 };

const clone = (value) => JSON.parse(JSON.stringify(value));

const starter = {
  name: "", status: "draft", trigger: { type: "manual" },
  steps: [{ id: "step-1", delay_seconds: 0, action: { type: "send_message", text: "Hi {{contact.first_name|there}}!" } }],
  exit_conditions: [{ type: "lead_replied" }], re_enrollment: "never_while_active",
};

/** A stored sequence's editable members; nulls and empty filters left out, each step's wait in seconds. */
export function editableSequence(sequence) {
  const doc = {};
  for (const key of editable) {
    const value = sequence[key];
    if (value === undefined || value === null) continue;
    if (key === "entry_filters" && !Object.keys(value).length) continue;
    doc[key] = clone(value);
  }
  for (const step of doc.steps || []) normalizeDelay(step);
  return doc;
}

/** One `delay_seconds` on a step, whatever unit key it was written with (the server stores seconds). */
function normalizeDelay(step) {
  let seconds = 0;
  for (const key of delayKeys) if (typeof step[key] === "number") { seconds = step[key] * factor[key]; }
  for (const key of delayKeys) delete step[key];
  const ordered = { id: step.id, delay_seconds: seconds, action: step.action };
  for (const key of Object.keys(step)) delete step[key];
  Object.assign(step, ordered);
  if (step.id === undefined) delete step.id;
}

/** The wait of a step in words. */
export function delayWords(seconds) {
  const s = Number(seconds || 0);
  if (!s) return "at once";
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/** The rows of `doc.steps`. */
function stepsEditor(ctx, doc) {
  const container = h("div", { class: "steps", "data-field": "steps" });
  let dragged = null;
  // The action picked for the next step outlives a redraw (the catalog arriving redraws the steps).
  let nextAction = "send_message";
  const draw = (focus) => {
    const steps = doc.steps || (doc.steps = []);
    const rows = steps.map((step, index) => {
      const move = (to, label) => {
        const b = h("button", { type: "button", class: "small", "aria-label": `Move step ${index + 1} ${label}`, title: `Move ${label}`,
          disabled: to < 0 || to >= steps.length, "data-move": label }, label === "up" ? "↑" : "↓");
        b.addEventListener("click", () => { moveStep(index, to); draw({ index: to, button: label }); });
        return b;
      };
      const remove = h("button", { type: "button", class: "small danger", "aria-label": `Remove step ${index + 1}` }, "Remove");
      remove.addEventListener("click", () => { steps.splice(index, 1); ctx.changed(); draw(); });
      const handle = h("span", { class: "drag-handle", title: "Drag to reorder", "aria-hidden": "true" }, "⠿");
      const path = `steps[${index}]`;
      const idBox = text(step.id, (v) => { step.id = v; ctx.changed(); }, { spellcheck: "false", pattern: "[A-Za-z0-9_-]{1,64}" });
      const wait = duration(index === 0 ? "Wait after enrolling" : "Wait after the previous step", step.delay_seconds,
        (seconds) => { step.delay_seconds = seconds ?? 0; ctx.changed(); }, `${path}.delay_seconds`);
      const row = h("li", { class: "step-row", draggable: "true", "data-field": path, "data-step": step.id || "" },
        h("div", { class: "tree-head" }, handle, h("strong", {}, `Step ${index + 1}`), pathField("Step id", idBox, `${path}.id`),
          h("div", { class: "tree-tools" }, move(index - 1, "up"), move(index + 1, "down"), remove)),
        h("div", { class: "field", "data-field": path }, h("div", { class: "field-error", role: "alert" })),
        wait,
        actionCard(ctx, step.action || (step.action = newAction("send_message")), `${path}.action`, { types: stepActions }));
      row.addEventListener("dragstart", (event) => {
        if (event.target !== row) return;
        dragged = index; row.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", String(index));
      });
      row.addEventListener("dragend", () => row.classList.remove("dragging"));
      row.addEventListener("dragover", (event) => { if (dragged !== null) { event.preventDefault(); row.classList.add("drop-target"); } });
      row.addEventListener("dragleave", () => row.classList.remove("drop-target"));
      row.addEventListener("drop", (event) => {
        event.preventDefault();
        const from = dragged;
        dragged = null;
        if (from === null || from === index) { draw(); return; }
        moveStep(from, index);
        draw();
      });
      return row;
    });
    const type = choose(stepActions, nextAction, (value) => { nextAction = value; }, { "aria-label": "Action of the new step" });
    const addButton = h("button", { type: "button", class: "small" }, "Add step");
    addButton.addEventListener("click", () => {
      let n = steps.length + 1;
      while (steps.some((s) => s.id === `step-${n}`)) n++;
      steps.push({ id: `step-${n}`, delay_seconds: steps.length ? 86400 : 0, action: newAction(type.value) });
      ctx.changed(); draw();
    });
    replace(container,
      h("p", { class: "muted small" }, "Each step waits after the one before it. A moved step keeps its own wait: it then waits that long after whichever step comes before it. Nothing is saved until you press Save."),
      h("div", { class: "field", "data-field": "steps" }, h("div", { class: "field-error", role: "alert" })),
      rows.length ? h("ol", { class: "step-list" }, rows) : h("p", { class: "muted" }, "No steps yet."),
      h("div", { class: "picker" }, type, addButton));
    if (focus) {
      const target = container.querySelectorAll(".step-row")[focus.index];
      const button = target && target.querySelector(`[data-move="${focus.button}"]`);
      const fallback = target && target.querySelector(`[data-move="${focus.button === "up" ? "down" : "up"}"]`);
      (button && !button.disabled ? button : fallback || button)?.focus();
    }
  };
  function moveStep(from, to) {
    const steps = doc.steps;
    const [step] = steps.splice(from, 1);
    steps.splice(to, 0, step);
    ctx.changed();
  }
  draw();
  container.redraw = draw;
  return container;
}

/** Trigger, entry filters, status, re-enrollment and name. */
function settingsEditor(ctx, doc) {
  const container = h("div", {});
  const draw = () => {
    const trigger = doc.trigger || (doc.trigger = { type: "manual" });
    const setIn = (object, key, redraw) => (id) => { if (id === undefined) delete object[key]; else object[key] = id; ctx.changed(); if (redraw) draw(); };
    const parts = [
      pathField("Name", text(doc.name, (v) => { doc.name = v; ctx.changed(); }), "name"),
      pathField("Status", choose(["draft", "active", "paused", "archived"], doc.status || "draft", (v) => { doc.status = v; ctx.changed(); }), "status", "Only active sequences take new leads."),
      pathField("Re-enrollment", choose([["never_while_active", "not while in it"], ["after_finished", "only after finishing it"], ["never_again", "never again"]],
        doc.re_enrollment || "never_while_active", (v) => { doc.re_enrollment = v; ctx.changed(); }), "re_enrollment", "When a lead may enter again."),
      pathField("Starts when", choose(triggerTypes, trigger.type, (v) => { doc.trigger = { type: v }; ctx.changed(); draw(); }), "trigger.type"),
    ];
    if (trigger.type === "stage_changed") {
      parts.push(pathField("Pipeline (optional)", idPicker(ctx.catalog, "pipeline", trigger.pipeline_id, { optional: true, label: "Trigger pipeline", onchange: setIn(trigger, "pipeline_id", true) }), "trigger.pipeline_id"),
        pathField("Stage", idPicker(ctx.catalog, "stage", trigger.stage_id, { pipelineID: trigger.pipeline_id, label: "Trigger stage", onchange: setIn(trigger, "stage_id") }), "trigger.stage_id"));
    }
    const filters = doc.entry_filters || {};
    const setFilter = (key) => (id) => {
      const next = { ...(doc.entry_filters || {}) };
      if (id === undefined) delete next[key]; else next[key] = id;
      if (Object.keys(next).length) doc.entry_filters = next; else delete doc.entry_filters;
      ctx.changed();
    };
    parts.push(pathField("Only leads in pipeline (optional)", idPicker(ctx.catalog, "pipeline", filters.pipeline_id, { optional: true, label: "Entry pipeline", onchange: setFilter("pipeline_id") }), "entry_filters.pipeline_id"),
      pathField("Only leads in stage (optional)", idPicker(ctx.catalog, "stage", filters.stage_id, { optional: true, label: "Entry stage", onchange: setFilter("stage_id") }), "entry_filters.stage_id"));
    replace(container, h("div", { class: "grid" }, parts), h("div", { class: "field", "data-field": "trigger" }, h("div", { class: "field-error", role: "alert" })));
  };
  draw();
  container.redraw = draw;
  return container;
}

/** The send window: on or off, time zone, days, start and end. */
function windowEditor(ctx, doc) {
  const container = h("div", { "data-field": "send_window" });
  const draw = () => {
    const on = h("input", { type: "checkbox", checked: Boolean(doc.send_window) });
    on.addEventListener("change", () => {
      if (on.checked) doc.send_window = defaultHours();
      else delete doc.send_window;
      ctx.changed(); draw();
      container.querySelector("input[type=checkbox]").focus();  // the redrawn box keeps the keyboard's place
    });
    const parts = [pathField("Send only within a window", on, "send_window", "Steps due outside it wait for the next opening.")];
    if (doc.send_window) parts.push(...hoursControls(doc.send_window, "send_window", ctx.changed));
    replace(container, parts);
  };
  draw();
  container.redraw = draw;
  return container;
}

/** The exit conditions: one row each (type; for a stage change, which stage), add and remove. */
function exitsEditor(ctx, doc) {
  const container = h("div", { "data-field": "exit_conditions" });
  const draw = () => {
    const exits = doc.exit_conditions || (doc.exit_conditions = []);
    const rows = exits.map((exit, index) => {
      const path = `exit_conditions[${index}]`;
      const parts = [pathField(`Exit ${index + 1}: when`, choose(exitTypes, exit.type, (v) => {
        exits[index] = v === "stage_changed" ? { type: v, to: "any" } : { type: v }; ctx.changed(); draw();
      }), `${path}.type`)];
      if (exit.type === "stage_changed") {
        const target = exit.stage_id !== undefined ? "stage" : exit.to || "any";
        parts.push(pathField("To", choose([["any", "any stage"], ["won", "won (142)"], ["lost", "lost (143)"], ["stage", "a given stage"]], target, (v) => {
          exits[index] = v === "stage" ? { type: "stage_changed", stage_id: exit.stage_id } : { type: "stage_changed", to: v };
          if (v === "stage") delete exits[index].stage_id;
          ctx.changed(); draw();
        }), `${path}.to`));
        if (target === "stage") {
          parts.push(pathField("Stage", idPicker(ctx.catalog, "stage", exit.stage_id, { label: `Exit ${index + 1} stage`, onchange: (id) => {
            if (id === undefined) delete exit.stage_id; else exit.stage_id = id; ctx.changed();
          } }), `${path}.stage_id`));
        }
      }
      const remove = h("button", { type: "button", class: "small", "aria-label": `Remove exit ${index + 1}` }, "Remove");
      remove.addEventListener("click", () => { exits.splice(index, 1); ctx.changed(); draw(); });
      return h("div", { class: "exit-row grid", "data-field": path }, parts, h("div", {}, remove));
    });
    const addButton = h("button", { type: "button", class: "small" }, "Add exit condition");
    addButton.addEventListener("click", () => { exits.push({ type: "lead_replied" }); ctx.changed(); draw(); });
    replace(container, rows.length ? rows : h("p", { class: "muted small" }, "No exit: leads stay until the last step (or a cancel)."),
      h("div", { class: "field", "data-field": "exit_conditions" }, h("div", { class: "field-error", role: "alert" })), addButton);
  };
  draw();
  container.redraw = draw;
  return container;
}

/** The lead the step texts' previews are rendered for (by the server, from what it knows of the lead). */
function previewLead(ctx) {
  const lead = h("input", { type: "text", inputmode: "numeric", placeholder: "a Kommo lead id", spellcheck: "false" });
  lead.addEventListener("input", () => {
    const id = lead.value.trim();
    ctx.sample.setLead(/^\d+$/.test(id) && Number(id) > 0 ? Number(id) : undefined);
  });
  return details("Preview for a lead", pathField("Preview for lead", lead, "", "Without a lead, the previews use sample values."));
}

/**
 * Create (`sequence` null) or edit form of a sequence; `done(saved, etag)` gets the stored one.
 * `form.rebase(saved, etag)` takes a change made elsewhere on the page (the status buttons) without
 * dropping the edits in the form.
 */
export function sequenceBuilder(agentID, sequence, etag, done) {
  let stored = sequence ? editableSequence(sequence) : {};
  let currentTag = etag;
  const doc = sequence ? editableSequence(sequence) : clone(starter);
  const jsonPanel = jsonTab("Sequence JSON");
  const ctx = {
    catalog: { connected: false, pipelines: [], users: [], custom_fields: { leads: [], contacts: [], companies: [] }, tags: { leads: [], contacts: [], companies: [] }, task_types: [] },
    sample: sampleValues(),
    changed: () => {},
    scripts: () => api.get(url`/api/v1/agents/${agentID}/scripts`, { limit: 100 }).then((r) => (r.data.items || []).map((s) => ({ id: s.id, name: s.name }))),
    sequences: () => api.get(url`/api/v1/agents/${agentID}/sequences`, { limit: 100 }).then((r) => (r.data.items || []).map((s) => ({ id: s.id, name: s.name }))),
    renderTemplate: (template, lead, values) => api.post(url`/api/v1/agents/${agentID}/templates/render`, { template, lead_id: lead, values }).then((r) => r.data),
  };
  const settings = settingsEditor(ctx, doc);
  const steps = stepsEditor(ctx, doc);
  const windowBox = windowEditor(ctx, doc);
  const exits = exitsEditor(ctx, doc);
  const redrawAll = () => { settings.redraw(); steps.redraw(); windowBox.redraw(); exits.redraw(); };
  // A disconnected account's catalog changes no control: the form is then left as it is.
  loadCatalog().then((catalog) => { if (!catalog.connected) return; ctx.catalog = catalog; keepingFocus(redrawAll); });
  const builderPanel = h("div", { class: "tab-panel", role: "tabpanel" },
    h("section", { class: "builder-section" }, h("h3", {}, "Settings"), settings),
    h("section", { class: "builder-section" }, h("h3", {}, "Steps"), steps, previewLead(ctx)),
    h("section", { class: "builder-section" }, h("h3", {}, "Send window"), windowBox),
    h("section", { class: "builder-section" }, h("h3", {}, "Exit conditions"), exits));
  function takeJSON() {
    jsonPanel.showError("");
    let value;
    try { value = JSON.parse(jsonPanel.get()); } catch (e) { jsonPanel.showError(`Not valid JSON: ${e.message}`); return false; }
    if (!value || typeof value !== "object" || Array.isArray(value)) { jsonPanel.showError("The sequence is a JSON object."); return false; }
    for (const key of Object.keys(doc)) delete doc[key];
    Object.assign(doc, value);
    for (const step of doc.steps || []) if (step && typeof step === "object") normalizeDelay(step);
    redrawAll();
    return true;
  }
  const tabs = tabBar([["Builder", builderPanel], ["JSON (advanced)", jsonPanel]], (panel) => {
    if (panel === builderPanel) return takeJSON();
    jsonPanel.set(pretty(doc));
    return true;
  });
  const form = h("form", { class: "card sequence-builder", novalidate: true },
    h("h2", {}, sequence ? "Edit sequence" : "New sequence"),
    h("div", { class: "form-errors" }),
    tabs, builderPanel, jsonPanel,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, sequence ? "Save" : "Create sequence")),
    sequence ? details("Stored JSON", jsonBlock(sequence)) : null);
  saveOnSubmit(form, {
    prepare: () => jsonPanel.hidden || takeJSON(),  // the JSON tab says why it cannot be taken
    // An edit is sent as a merge patch against the stored sequence (the one read again when overwriting).
    body: (current) => (sequence ? mergePatch(current ? editableSequence(current) : stored, doc) : doc),
    unchanged: (patch) => Object.keys(patch).length === 0,
    create: (value, options) => api.post(url`/api/v1/agents/${agentID}/sequences`, value, options),
    update: sequence && ((value, options) => api.patch(url`/api/v1/agents/${agentID}/sequences/${sequence.id}`, value, options)),
    etag: () => currentTag, reread: sequence && (() => api.get(url`/api/v1/agents/${agentID}/sequences/${sequence.id}`)), done,
    // Field errors are shown at the builder's controls, so the builder is shown for them.
    onError: (error) => { if (!jsonPanel.hidden && error.problem && (error.problem.errors || []).length) tabs.select(0); },
  });
  form.rebase = (saved, tag) => {
    const fresh = editableSequence(saved);
    for (const key of ["status"]) { stored[key] = fresh[key]; doc[key] = fresh[key]; }
    currentTag = tag;
    settings.redraw(); ctx.changed();
  };
  return form;
}
