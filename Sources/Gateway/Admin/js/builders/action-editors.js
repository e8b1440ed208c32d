// One editor per action type (the twelve of Sources/Domain/Actions/Action.swift, each with only the keys
// its type reads), a list of actions with add / move / delete, and template fields with a variable
// picker and a live preview. Rules and sequence steps use the same editors.

import { h, replace } from "../dom.js";
import { idPicker, fieldSuggestions, customField, datalist } from "./catalog.js";
import { pathField, choose, text, words, duration } from "./controls.js";

export const actionTypes = [
  ["send_message", "Send a message"], ["ai_response", "AI reply"], ["create_task", "Create a task"], ["add_note", "Add a note"],
  ["change_stage", "Move to a stage"], ["set_field", "Set a field"], ["add_tags", "Add tags"], ["remove_tags", "Remove tags"],
  ["webhook", "Call a webhook"], ["start_sequence", "Start a sequence"], ["stop_sequence", "Stop a sequence"], ["kommo_action", "Kommo operation"],
];
export const actionName = Object.fromEntries(actionTypes);

/** Kommo operations of `kommo_action` and the parameters each needs (KommoOperation.requiredParameters). */
export const kommoOperations = {
  update_lead: [], change_stage: ["status_id"], change_responsible: ["responsible_user_id"], set_field: ["field", "value"],
  add_tags: ["tags"], remove_tags: ["tags"], create_task: ["text", "due_in_seconds"], complete_task: ["task_id"], add_note: ["text"],
  run_salesbot: ["bot_id"], update_contact: [],
};

/** The variables every template understands (TemplateVocabulary.builtInNames). */
export const templateVariables = ["lead.id", "lead.name", "lead.price", "lead.stage", "lead.pipeline", "lead.responsible",
  "contact.name", "contact.first_name", "contact.last_name", "contact.phone", "contact.email", "agent.name", "manager.name"];

/** A new action of `type` with the keys its editor starts from. */
export function newAction(type) {
  switch (type) {
    case "send_message": return { type, text: "" };
    case "ai_response": return { type };
    case "create_task": return { type, text: "", due_in_seconds: 3600 };
    case "add_note": return { type, text: "" };
    case "change_stage": return { type };
    case "set_field": return { type, field: "", value: "" };
    case "add_tags": case "remove_tags": return { type, tags: [] };
    case "webhook": return { type, url: "https://" };
    case "start_sequence": return { type, sequence_id: "" };
    case "stop_sequence": return { type };
    case "kommo_action": return { type, operation: "update_lead", parameters: {} };
    default: return { type };
  }
}

/** `{{name|default}}` placeholders of a template, in order, without repeats. */
export function placeholders(template) {
  const found = [];
  for (const match of String(template || "").matchAll(/\{\{([^{}|\n]+)(?:\|([^{}\n]*))?\}\}/g)) {
    const name = match[1].trim();
    if (name && !found.some((f) => f.name.toLowerCase() === name.toLowerCase())) found.push({ name, fallback: (match[2] || "").trim() });
  }
  return found;
}

/** Renders a template with `values` (by lowercased name); a missing value uses its default. */
export function renderTemplate(template, values) {
  return String(template || "").replace(/\{\{([^{}|\n]+)(?:\|([^{}\n]*))?\}\}/g, (_, name, fallback) => {
    const value = values[name.trim().toLowerCase()];
    return value !== undefined && value !== "" ? value : (fallback || "").trim();
  });
}

/**
 * A template textarea with a variable picker (inserts `{{name}}` at the cursor) and a live preview that
 * fills the variables from sample values, `ctx.sample` (shared by every template of the editor).
 */
export function templateField(ctx, label, value, onchange, path, { rows = 3, hint } = {}) {
  const area = h("textarea", { rows, spellcheck: "true" });
  area.value = value ?? "";
  const preview = h("pre", { class: "preview template-preview", "aria-live": "polite" });
  const customs = ctx.catalog.custom_fields.leads.map((f) => `lead.cf.${f.name}`);
  const variables = [...templateVariables, ...customs];
  const pick = h("select", { "aria-label": `${label}: variable to insert` }, variables.map((v) => h("option", { value: v }, v)));
  const insert = h("button", { type: "button", class: "small" }, "Insert variable");
  let pending = 0;
  const showPreview = () => {
    const text = area.value;
    if (!/\{\{/.test(text)) { preview.hidden = true; return; }
    preview.hidden = false;
    const lead = ctx.sample.leadID;
    // For a chosen lead the server renders it with what it knows of the lead (and the values typed
    // on top); a placeholder still being typed is not sent.
    if (!lead || !ctx.renderTemplate || /\{\{(?![^{}\n]*\}\})/.test(text)) {
      replace(preview, renderTemplate(text, ctx.sample.values));
      return;
    }
    const mine = ++pending;
    setTimeout(() => {
      if (mine !== pending) return;
      ctx.renderTemplate(text, lead, ctx.sample.edited).then((answer) => {
        if (mine !== pending) return;
        replace(preview, answer.text, (answer.missing || []).length ? h("span", { class: "muted small" }, ` (no value for ${answer.missing.join(", ")})`) : null);
      }).catch((error) => { if (mine === pending) replace(preview, h("span", { class: "muted small" }, `No preview: ${error.message}`)); });
    }, 250);
  };
  const emit = () => { onchange(area.value); showPreview(); };
  area.addEventListener("input", emit);
  insert.addEventListener("click", () => {
    const start = area.selectionStart ?? area.value.length;
    const end = area.selectionEnd ?? start;
    const token = `{{${pick.value}}}`;
    area.value = area.value.slice(0, start) + token + area.value.slice(end);
    area.focus();
    area.selectionStart = area.selectionEnd = start + token.length;
    emit();
  });
  ctx.sample.listeners.add(showPreview);
  showPreview();
  const wrapper = pathField(label, area, path, hint);
  area.after(h("div", { class: "picker" }, pick, insert), preview);
  return wrapper;
}

/** A list of sequences or scripts of the agent (`load()` gives `[{id, name}]`) as a select keeping an unknown id. */
function resourcePicker(load, value, onchange, { optional, emptyText, label }) {
  const element = h("select", {}, h("option", { value: "", selected: !value }, emptyText));
  if (value) element.append(h("option", { value, selected: true }, value));
  load().then((items) => {
    const chosen = element.value;
    replace(element, h("option", { value: "" }, emptyText), items.map((item) => h("option", { value: item.id }, `${item.name} (${item.id})`)));
    if (chosen && !items.some((i) => i.id === chosen)) element.append(h("option", { value: chosen }, `${chosen} (not found)`));
    element.value = chosen;
  }).catch(() => {});
  element.addEventListener("change", () => onchange(element.value || (optional ? undefined : "")));
  return element;
}

/** The controls of one action, into `body`; `redraw()` is called when the type's shape changes. */
export function actionFields(ctx, action, path, body) {
  const catalog = ctx.catalog;
  const set = (key) => (value) => {
    if (value === undefined || value === "" && ["script_id", "instructions", "payload_template", "sequence_id"].includes(key)) delete action[key];
    else action[key] = value;
    ctx.changed();
  };
  const redraw = () => { replace(body); actionFields(ctx, action, path, body); ctx.changed(); };
  const add = (...nodes) => body.append(...nodes);
  const script = () => pathField("Sales script (optional)", resourcePicker(ctx.scripts, action.script_id, set("script_id"),
    { optional: true, emptyText: "none", label: "Sales script" }), `${path}.script_id`);
  switch (action.type) {
    case "send_message":
      add(templateField(ctx, "Message", action.text, (v) => { if (v === "" && action.script_id) delete action.text; else action.text = v; ctx.changed(); }, `${path}.text`,
        { hint: "Or pick a sales script instead of a text." }), script());
      break;
    case "ai_response":
      add(templateField(ctx, "Instructions for the AI (optional)", action.instructions, set("instructions"), `${path}.instructions`), script());
      break;
    case "create_task":
      add(templateField(ctx, "Task text", action.text, set("text"), `${path}.text`, { rows: 2 }),
        duration("Due in", action.due_in_seconds, set("due_in_seconds"), `${path}.due_in_seconds`),
        pathField("Task type (optional)", idPicker(catalog, "task_type", action.task_type, { optional: true, label: "Task type", onchange: set("task_type") }), `${path}.task_type`),
        pathField("Assign to (optional)", idPicker(catalog, "user", action.responsible_user_id, { optional: true, label: "Assign to", onchange: set("responsible_user_id") }), `${path}.responsible_user_id`));
      break;
    case "add_note":
      add(templateField(ctx, "Note", action.text, set("text"), `${path}.text`));
      break;
    case "change_stage":
      add(pathField("Pipeline (optional: the lead's own)", idPicker(catalog, "pipeline", action.pipeline_id, { optional: true, label: "Pipeline",
        onchange: (id) => { set("pipeline_id")(id); redraw(); } }), `${path}.pipeline_id`),
      pathField("Stage", idPicker(catalog, "stage", action.stage_id, { pipelineID: action.pipeline_id, label: "Stage", onchange: set("stage_id") }), `${path}.stage_id`));
      break;
    case "set_field": {
      const { plain, custom } = fieldSuggestions(catalog);
      const list = datalist([...custom.filter((c) => c.ref.startsWith("cf.")).map((c) => c.ref), ...plain.filter((p) => !p.startsWith("contact."))]);
      const fieldBox = text(action.field, set("field"), { list: list.id, spellcheck: "false", placeholder: "cf.Budget" });
      fieldBox.addEventListener("change", redraw);
      const known = customField(catalog, action.field);
      const enums = known && Array.isArray(known.enums) && known.enums.length ? known.enums.map((e) => e.value) : null;
      const setValue = (v) => { action.value = v; ctx.changed(); };
      add(pathField("Field", fieldBox, `${path}.field`), list.element,
        enums ? pathField("Value", choose([["", "(clear the field)"], ...enums.map((v) => [v, v])], action.value, setValue), `${path}.value`)
          : pathField("Value", text(action.value, setValue), `${path}.value`, "Empty clears the field."));
      break;
    }
    case "add_tags": case "remove_tags": {
      const list = datalist(catalog.tags.leads.map((t) => t.name));
      add(pathField("Tags", words(action.tags, set("tags"), { list: list.id }), `${path}.tags`, "comma-separated"), list.element);
      break;
    }
    case "webhook":
      add(pathField("URL", text(action.url, set("url"), { type: "url", spellcheck: "false" }), `${path}.url`),
        templateField(ctx, "Body template (optional)", action.payload_template, set("payload_template"), `${path}.payload_template`, { rows: 3 }));
      break;
    case "start_sequence": case "stop_sequence":
      add(pathField(action.type === "start_sequence" ? "Sequence" : "Sequence (optional: every one)", resourcePicker(ctx.sequences, action.sequence_id, set("sequence_id"),
        { optional: action.type === "stop_sequence", emptyText: action.type === "stop_sequence" ? "every sequence" : "— choose —", label: "Sequence" }), `${path}.sequence_id`));
      break;
    case "kommo_action": {
      const operation = choose(Object.keys(kommoOperations), action.operation, (value) => {
        action.operation = value;
        const parameters = action.parameters || {};
        for (const required of kommoOperations[value] || []) if (!(required in parameters)) parameters[required] = "";
        action.parameters = parameters;
        redraw();
      });
      add(pathField("Operation", operation, `${path}.operation`), parametersEditor(ctx, action, `${path}.parameters`));
      break;
    }
    default:
      add(h("p", { class: "muted" }, `Unknown action type "${action.type}": edit it in the JSON tab.`));
  }
}

/** `parameters` of a Kommo operation as name / value rows. */
function parametersEditor(ctx, action, path) {
  const rows = h("div", { class: "parameters" });
  const draw = () => {
    const parameters = action.parameters || (action.parameters = {});
    replace(rows, Object.entries(parameters).map(([name, value], index) => {
      const nameBox = h("input", { type: "text", value: name, spellcheck: "false", "aria-label": `Parameter ${index + 1} name` });
      const valueBox = h("input", { type: "text", value, "aria-label": `Parameter ${index + 1} value` });
      nameBox.addEventListener("change", () => {
        const entries = Object.entries(action.parameters).map(([k, v]) => (k === name ? [nameBox.value.trim(), v] : [k, v])).filter(([k]) => k);
        action.parameters = Object.fromEntries(entries); ctx.changed(); draw();
      });
      valueBox.addEventListener("input", () => { action.parameters[name] = valueBox.value; ctx.changed(); });
      const remove = h("button", { type: "button", class: "small", "aria-label": `Remove parameter ${name}` }, "Remove");
      remove.addEventListener("click", () => { delete action.parameters[name]; ctx.changed(); draw(); });
      return h("div", { class: "param-row", "data-field": `${path}.${name}` }, nameBox, valueBox, remove, h("div", { class: "field-error", role: "alert" }));
    }));
    const addButton = h("button", { type: "button", class: "small" }, "Add parameter");
    addButton.addEventListener("click", () => { let n = 1; while (`param_${n}` in action.parameters) n++; action.parameters[`param_${n}`] = ""; ctx.changed(); draw(); });
    rows.append(addButton);
  };
  draw();
  return h("div", { class: "field", "data-field": path }, h("span", { class: "label" }, "Parameters"), rows, h("div", { class: "field-error", role: "alert" }));
}

/** One action's card: its type select (which resets the keys), its fields, and `tools` (move / delete). */
export function actionCard(ctx, action, path, { types = actionTypes, tools = null, title } = {}) {
  const body = h("div", { class: "action-body" });
  const type = h("select", {}, types.map(([v, t]) => h("option", { value: v, selected: v === action.type }, t)));
  if (!types.some(([v]) => v === action.type)) type.append(h("option", { value: action.type, selected: true }, action.type));
  type.addEventListener("change", () => {
    const fresh = newAction(type.value);
    for (const key of Object.keys(action)) delete action[key];
    Object.assign(action, fresh);
    replace(body); actionFields(ctx, action, path, body); ctx.changed();
  });
  actionFields(ctx, action, path, body);
  return h("div", { class: "action-card", "data-field": path },
    h("div", { class: "tree-head" }, title ? h("strong", {}, title) : null, pathField("Action", type, `${path}.type`), tools),
    h("div", { class: "field", "data-field": path }, h("div", { class: "field-error", role: "alert" })),
    body);
}

/** The editor of `doc.actions`: one card per action, move up / down, delete, and "Add action". */
export function actionList(ctx, doc) {
  const container = h("div", { class: "action-list", "data-field": "actions" });
  // The type picked for the next action outlives a redraw (the catalog arriving redraws the cards).
  let nextType = "send_message";
  const draw = (focus) => {
    const list = doc.actions || (doc.actions = []);
    const cards = list.map((action, index) => {
      const tools = h("div", { class: "tree-tools" });
      const tool = (label, textValue, enabled, act, to) => {
        const b = h("button", { type: "button", class: "small", "aria-label": `${label} (action ${index + 1})`, title: label, disabled: !enabled, "data-tool": label }, textValue);
        b.addEventListener("click", () => { act(); ctx.changed(); draw({ index: to, tool: label }); });
        tools.append(b);
      };
      tool("Move up", "↑", index > 0, () => { [list[index - 1], list[index]] = [list[index], list[index - 1]]; }, index - 1);
      tool("Move down", "↓", index < list.length - 1, () => { [list[index + 1], list[index]] = [list[index], list[index + 1]]; }, index + 1);
      tool("Delete", "Delete", true, () => { list.splice(index, 1); }, Math.min(index, list.length - 2));
      return actionCard(ctx, action, `actions[${index}]`, { tools, title: `${index + 1}.` });
    });
    const type = choose(actionTypes, nextType, (value) => { nextType = value; }, { "aria-label": "Type of the new action" });
    const addButton = h("button", { type: "button", class: "small" }, "Add action");
    addButton.addEventListener("click", () => { list.push(newAction(type.value)); ctx.changed(); draw(); });
    replace(container, cards.length ? cards : h("p", { class: "muted" }, "No actions yet: a rule needs at least one."),
      h("div", { class: "field", "data-field": "actions" }, h("div", { class: "field-error", role: "alert" })),
      h("div", { class: "picker" }, type, addButton));
    if (focus) {
      // The focus follows the moved action (or goes to the one after a deleted one).
      const card = cards[focus.index];
      const buttons = card ? Array.from(card.querySelectorAll(".tree-tools button")) : [];
      const target = buttons.find((b) => b.dataset.tool === focus.tool && !b.disabled) || buttons.find((b) => !b.disabled) || addButton;
      target.focus();
    }
  };
  draw();
  container.redraw = draw;
  return container;
}

/** Sample values (and a lead) for the template previews, shared by every template field of one editor. */
export function sampleValues() {
  const sample = { values: { "lead.name": "Ana's order", "contact.first_name": "Ana", "contact.name": "Ana Silva", "agent.name": "Agent" },
    edited: {}, leadID: undefined, listeners: new Set() };
  const notify = () => { for (const l of sample.listeners) l(); };
  sample.set = (name, value) => {
    sample.values[name.toLowerCase()] = value;
    if (value === "") delete sample.edited[name]; else sample.edited[name] = value;
    notify();
  };
  /** A lead to preview for (its stored facts, rendered by the server), or `undefined` for the sample values. */
  sample.setLead = (id) => { sample.leadID = id; notify(); };
  return sample;
}
