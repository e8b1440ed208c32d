// Starting points for the JSON editors: one example per trigger, condition and action type, inserted
// by a picker next to the field, so nobody has to remember the keys of each type.

import { h, pretty, fieldError, showErrors } from "./dom.js";

export const triggers = {
  lead_created: { type: "lead_created" },
  lead_updated: { type: "lead_updated" },
  message_received: { type: "message_received" },
  stage_changed: { type: "stage_changed", pipeline_id: 7100001, stage_id: 61234502 },
  time_based: { type: "time_based", anchor: "stage_entered", after_seconds: 86400, cancel_on: ["inbound_message"] },
  manual: { type: "manual" },
  lead_mail_in: { type: "lead_mail_in" },
  lead_call_in: { type: "lead_call_in" },
  lead_chat: { type: "lead_chat" },
  lead_site_visit: { type: "lead_site_visit" },
  customer_period: { type: "customer_period" },
};

export const conditions = {
  field_value: { type: "field_value", field: "cf.Budget", operator: "equals", value: "5000+" },
  time_elapsed: { type: "time_elapsed", anchor: "stage_entered", operator: "gte", seconds: 86400 },
  stage_is: { type: "stage_is", pipeline_id: 7100001, stage_ids: [61234502] },
  pipeline_is: { type: "pipeline_is", pipeline_ids: [7100001] },
  message_text: { type: "message_text", operator: "contains_any", keywords: ["price", "discount"] },
  message_origin: { type: "message_origin", origins: ["waba", "telegram"] },
  within_working_hours: { type: "within_working_hours" },
  responsible_user_is: { type: "responsible_user_is", user_ids: [42] },
  inbound_message_count: { type: "inbound_message_count", operator: "gte", count: 3 },
};

export const actions = {
  send_message: { type: "send_message", text: "Hi {{contact.first_name|there}}!" },
  ai_response: { type: "ai_response", instructions: "Answer briefly and suggest a visit." },
  create_task: { type: "create_task", text: "Call {{lead.name}}", due_in_seconds: 3600, task_type: 1 },
  add_note: { type: "add_note", text: "Note from the rules" },
  change_stage: { type: "change_stage", stage_id: 61234503 },
  set_field: { type: "set_field", field: "cf.Budget", value: "5000+" },
  add_tags: { type: "add_tags", tags: ["hot"] },
  remove_tags: { type: "remove_tags", tags: ["cold"] },
  webhook: { type: "webhook", url: "https://example.com/hook", payload_template: "{\"lead\": \"{{lead.id}}\"}" },
  start_sequence: { type: "start_sequence", sequence_id: "seq_…" },
  stop_sequence: { type: "stop_sequence", sequence_id: "seq_…" },
  kommo_action: { type: "kommo_action", operation: "update_lead", parameters: { price: "5000" } },
};

/**
 * A "type + Insert" picker under a JSON textarea. `change(current, example)` returns the new value
 * (`current` is the parsed textarea, undefined when empty); a textarea that is not JSON is reported on
 * the field rather than overwritten.
 */
export function picker(label, examples, textarea, name, change) {
  const choice = h("select", { "aria-label": label }, Object.keys(examples).map((key) => h("option", { value: key }, key)));
  const insert = h("button", { type: "button", class: "small" }, label);
  insert.addEventListener("click", () => {
    const text = textarea.value.trim();
    let current;
    if (text) {
      try { current = JSON.parse(text); } catch (e) {
        showErrors(textarea.form, fieldError(name, `is not valid JSON: ${e.message}`));
        return;
      }
    }
    const example = JSON.parse(JSON.stringify(examples[choice.value]));
    textarea.value = pretty(change(current, example));
  });
  return h("div", { class: "picker" }, choice, insert);
}

/** Adds a leaf to a condition tree: into a top-level `all`, or wrapping what is there. */
export function addCondition(current, leaf) {
  if (current === undefined || current === null) return { all: [leaf] };
  if (current && Array.isArray(current.all)) return { ...current, all: [...current.all, leaf] };
  return { all: [current, leaf] };
}

/** Appends to a list. */
export function addToList(current, item) {
  return [...(Array.isArray(current) ? current : []), item];
}

