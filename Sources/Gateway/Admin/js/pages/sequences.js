// Sequences of an agent: the list, create and edit (steps with their delays and actions, reordering),
// the status, and the enrollments with pause / resume / cancel and manual enroll.

import { h, pretty, replace, badge, table, time, link, button, field, input, textarea, select, notice, jsonBlock,
  showErrors, clearErrors, errorView, parseJSON, details } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { formCard, saveOnSubmit, titleRow, deleteButton } from "./forms.js";
import { agentHeader } from "./agents.js";
import { picker, actions as actionExamples, addToList } from "../templates.js";

const statuses = ["draft", "active", "paused", "archived"];
const sequenceTriggers = {
  stage_changed: { type: "stage_changed", pipeline_id: 7100001, stage_id: 61234502 },
  lead_created: { type: "lead_created" },
  manual: { type: "manual" },
  rule: { type: "rule" },
};
const example = {
  name: "Welcome",
  status: "draft",
  trigger: { type: "stage_changed", pipeline_id: 7100001, stage_id: 61234502 },
  steps: [
    { id: "hello", delay_seconds: 0, action: { type: "send_message", text: "Hi {{contact.first_name|there}}!" } },
    { id: "call", delay_days: 2, action: { type: "create_task", text: "Call {{lead.name}}", due_in_seconds: 3600 } },
  ],
  exit_conditions: [{ type: "lead_replied" }],
  re_enrollment: "never_while_active",
};

export async function sequencesPage(page, { id }) {
  await agentHeader(page, id, "/sequences");
  const formSlot = h("div", {});
  page.append(
    titleRow(h("h2", {}, "Sequences"), "New sequence", formSlot, (done) => sequenceForm(id, null, "", done),
      (s) => `#/agents/${encodeURIComponent(id)}/sequences/${encodeURIComponent(s.id)}`),
    formSlot,
    pagedList((cursor) => api.get(url`/api/v1/agents/${id}/sequences`, { cursor, limit: 50 }).then((r) => r.data), (items) => table([
      { title: "Name", cell: (s) => link(`#/agents/${encodeURIComponent(id)}/sequences/${encodeURIComponent(s.id)}`, s.name) },
      { title: "Status", cell: (s) => badge(s.status) },
      { title: "Trigger", cell: (s) => h("code", {}, (s.trigger && s.trigger.type) || "") },
      { title: "Steps", cell: (s) => String((s.steps || []).length) },
      { title: "Updated", cell: (s) => time(s.updated_at) },
    ], items, "No sequences yet.")));
}

export async function sequencePage(page, { id, sequenceId }) {
  await agentHeader(page, id, "/sequences");
  const answer = await api.get(url`/api/v1/agents/${id}/sequences/${sequenceId}`);
  let sequence = answer.data;
  let etag = answer.etag;
  const stepsSlot = h("div", {});
  const formSlot = h("div", {});
  const statusSlot = h("div", { class: "actions" });
  const patch = async (body) => {
    const saved = await api.patch(url`/api/v1/agents/${id}/sequences/${sequenceId}`, body, { ifMatch: etag });
    sequence = saved.data; etag = saved.etag; draw();
  };
  function draw() {
    replace(statusSlot, h("span", {}, "Status: ", badge(sequence.status), " "),
      statuses.filter((s) => s !== sequence.status).map((s) => button(`Set ${s}`, () => patch({ status: s }).catch((e) => statusSlot.append(errorView(e))))),
      deleteButton("Delete sequence", {
        question: () => `Delete the sequence "${sequence.name}"?`, remove: () => api.delete(url`/api/v1/agents/${id}/sequences/${sequenceId}`),
        back: `#/agents/${encodeURIComponent(id)}/sequences`, onError: (view) => statusSlot.append(view) }));
    const steps = sequence.steps || [];
    replace(stepsSlot, h("section", { class: "card" }, h("h2", {}, "Steps"), table([
      { title: "#", cell: (s) => String(steps.indexOf(s) + 1) },
      { title: "Step", cell: (s) => h("code", {}, s.id) },
      { title: "Wait", cell: (s) => delayText(s) },
      { title: "Action", cell: (s) => h("span", {}, h("code", {}, (s.action && s.action.type) || ""), " ", (s.action && s.action.text) || "") },
      { title: "Move", cell: (s) => h("span", { class: "links" },
        button("↑", () => patch({ move: { step_id: s.id, direction: "up" } }).catch((e) => stepsSlot.append(errorView(e))), { kind: "small", title: "Move up", label: `Move step ${steps.indexOf(s) + 1} up` }),
        button("↓", () => patch({ move: { step_id: s.id, direction: "down" } }).catch((e) => stepsSlot.append(errorView(e))), { kind: "small", title: "Move down", label: `Move step ${steps.indexOf(s) + 1} down` })) },
    ], steps, "No steps.")));
    replace(formSlot, sequenceForm(id, sequence, etag, (saved, tag) => {
      sequence = saved; etag = tag; draw();
      replace(formSlot.querySelector(".form-errors"), notice("ok", "Saved."));
    }));
  }
  draw();
  page.append(h("p", { class: "crumbs" }, link(`#/agents/${encodeURIComponent(id)}/sequences`, "All sequences")),
    statusSlot, stepsSlot, enrollmentsCard(id, sequenceId), formSlot);
}

function delayText(step) {
  const seconds = Number(step.delay_seconds || 0) + Number(step.delay_minutes || 0) * 60 + Number(step.delay_hours || 0) * 3600 + Number(step.delay_days || 0) * 86400;
  if (!seconds) return "at once";
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function sequenceForm(agentID, sequence, etag, done) {
  const s = sequence || example;
  const name = input({ value: s.name || "" });
  const status = select(statuses, s.status || "draft");
  const reEnrollment = select(["never_while_active", "after_finished", "never_again"], s.re_enrollment || "never_while_active");
  const json = (value, rows) => { const t = textarea({ rows, class: "code", spellcheck: "false" }); t.value = value === undefined || value === null ? "" : pretty(value); return t; };
  const trigger = json(s.trigger, 3);
  const entry = json(s.entry_filters, 2);
  const steps = json(s.steps, 10);
  const window = json(s.send_window, 3);
  const exits = json(s.exit_conditions, 3);
  const form = formCard(sequence ? "Edit sequence" : "New sequence",
    h("div", { class: "grid" },
      field("Name", name, { name: "name" }),
      field("Status", status, { name: "status", hint: "Only active sequences take new leads." }),
      field("Re-enrollment", reEnrollment, { name: "re_enrollment", hint: "When a lead may enter again." })),
    field("Trigger (JSON)", trigger, { name: "trigger", extra: picker("Use this trigger", sequenceTriggers, trigger, "trigger", (_, example) => example) }),
    field("Entry filters (JSON)", entry, { name: "entry_filters" }),
    field("Steps (JSON list)", steps, { name: "steps",
      extra: picker("Add step", actionExamples, steps, "steps", (current, action) => {
        const list = Array.isArray(current) ? current : [];
        return addToList(list, { id: `step-${list.length + 1}`, delay_days: list.length ? 1 : 0, action });
      }),
      hint: "Each: id, a wait after the previous step (delay_seconds / delay_minutes / delay_hours / delay_days) and an action." }),
    field("Send window (JSON)", window, { name: "send_window" }),
    field("Exit conditions (JSON list)", exits, { name: "exit_conditions" }),
    h("button", { type: "submit", class: "primary" }, sequence ? "Save" : "Create sequence"),
    sequence ? details("Stored JSON", jsonBlock(sequence)) : null);
  saveOnSubmit(form, {
    create: (value, options) => api.post(url`/api/v1/agents/${agentID}/sequences`, value, options),
    update: sequence && ((value, options) => api.patch(url`/api/v1/agents/${agentID}/sequences/${sequence.id}`, value, options)), etag, done,
    body() {
      const body = { name: name.value, status: status.value, trigger: parseJSON(trigger.value, "trigger"), steps: parseJSON(steps.value, "steps") };
      body.re_enrollment = reEnrollment.value;
      for (const [key, area] of [["entry_filters", entry], ["send_window", window], ["exit_conditions", exits]]) {
        const value = parseJSON(area.value, key, { optional: true });
        if (value !== undefined) body[key] = value; else if (sequence) body[key] = null;
      }
      return body;
    },
  });
  return form;
}

function enrollmentsCard(agentID, sequenceID) {
  const state = select(["", "active", "paused", "completed", "exited", "cancelled"], "");
  const lead = input({ placeholder: "lead id" });
  const list = h("div", {});
  const load = () => replace(list, pagedList((cursor) => api.get(url`/api/v1/agents/${agentID}/sequences/${sequenceID}/enrollments`,
    { cursor, limit: 50, state: state.value, lead_id: lead.value.trim() }).then((r) => r.data), (items) => table([
    { title: "Lead", cell: (e) => link(`#/leads/${encodeURIComponent(e.lead_id)}`, String(e.lead_id)) },
    { title: "State", cell: (e) => badge(e.state) },
    { title: "Step", cell: (e) => e.current_step_id ? h("span", {}, h("code", {}, e.current_step_id), e.current_step_index != null ? ` (#${e.current_step_index + 1})` : "") : "—" },
    { title: "Done", cell: (e) => String(e.steps_done ?? 0) },
    { title: "Next", cell: (e) => time(e.next_due_at) },
    { title: "Enrolled", cell: (e) => time(e.enrolled_at) },
    { title: "Reason", cell: (e) => e.reason || "" },
    { title: "", cell: (e) => commands(e) },
  ], items, "No leads in this sequence.")));
  function commands(enrollment) {
    const slot = h("span", { class: "links" });
    const command = (verb) => button(verb[0].toUpperCase() + verb.slice(1), async () => {
      if (verb === "cancel" && !confirm(`Cancel the enrollment of lead ${enrollment.lead_id}?`)) return;
      try {
        if (verb === "pause") await api.post(url`/api/v1/agents/${agentID}/sequences/${sequenceID}/enrollments/${enrollment.id}/pause`, {});
        if (verb === "resume") await api.post(url`/api/v1/agents/${agentID}/sequences/${sequenceID}/enrollments/${enrollment.id}/resume`, {});
        if (verb === "cancel") await api.post(url`/api/v1/agents/${agentID}/sequences/${sequenceID}/enrollments/${enrollment.id}/cancel`, {});
        load();
      } catch (error) { slot.append(errorView(error)); }
    }, { kind: "small" });
    if (enrollment.state === "active") slot.append(command("pause"));
    if (enrollment.state === "paused") slot.append(command("resume"));
    if (enrollment.state === "active" || enrollment.state === "paused") slot.append(command("cancel"));
    return slot;
  }
  const enrollLead = input({ placeholder: "Kommo lead id" });
  const enrollForm = h("form", { class: "inline" }, h("div", { class: "form-errors" }), field("Enroll a lead", enrollLead, { name: "lead_id" }), h("button", { type: "submit" }, "Enroll"));
  enrollForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(enrollForm);
    try {
      await api.post(url`/api/v1/agents/${agentID}/sequences/${sequenceID}/enrollments`, { lead_id: enrollLead.value.trim() });
      enrollLead.value = "";
      load();
    } catch (error) { showErrors(enrollForm, error); }
  });
  const filters = h("form", { class: "filters" }, field("State", state), field("Lead", lead), h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
  return h("section", { class: "card" }, h("h2", {}, "Enrollments"), enrollForm, filters, list);
}
