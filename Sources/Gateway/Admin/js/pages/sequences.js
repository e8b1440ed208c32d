// Sequences of an agent: the list, create and edit with the sequence builder (js/builders/sequence-steps.js),
// the status, and the enrollments with pause / resume / cancel and manual enroll.

import { h, replace, badge, table, time, link, button, field, input, select, showErrors, clearErrors, errorView } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { titleRow, deleteButton, showSaved, takeFlash } from "./forms.js";
import { agentHeader } from "./agents.js";
import { sequenceBuilder } from "../builders/sequence-steps.js";
import { triggerView } from "../names.js";

const statuses = ["draft", "active", "paused", "archived"];
export async function sequencesPage(page, { id }) {
  await agentHeader(page, id, "/sequences");
  const formSlot = h("div", {});
  page.append(
    titleRow(h("h2", {}, "Sequences"), "New sequence", formSlot, (done) => sequenceBuilder(id, null, "", done),
      (s) => `#/agents/${encodeURIComponent(id)}/sequences/${encodeURIComponent(s.id)}`),
    formSlot,
    pagedList((cursor) => api.get(url`/api/v1/agents/${id}/sequences`, { cursor, limit: 50 }).then((r) => r.data), (items) => table([
      { title: "Name", cell: (s) => link(`#/agents/${encodeURIComponent(id)}/sequences/${encodeURIComponent(s.id)}`, s.name) },
      { title: "Status", cell: (s) => badge(s.status) },
      { title: "Trigger", cell: (s) => triggerView(s.trigger) },
      { title: "Steps", cell: (s) => String((s.steps || []).length) },
      { title: "Updated", cell: (s) => time(s.updated_at) },
    ], items, "No sequences yet.")));
}

export async function sequencePage(page, { id, sequenceId }) {
  await agentHeader(page, id, "/sequences");
  const answer = await api.get(url`/api/v1/agents/${id}/sequences/${sequenceId}`);
  let sequence = answer.data;
  let etag = answer.etag;
  const formSlot = h("div", {});
  const statusSlot = h("div", { class: "actions" });
  let form = null;
  // A status change is its own PATCH; the form takes the new version without losing its unsaved edits.
  const setStatus = async (status) => {
    const saved = await api.patch(url`/api/v1/agents/${id}/sequences/${sequenceId}`, { status }, { ifMatch: etag });
    sequence = saved.data; etag = saved.etag;
    drawStatus();
    form.rebase(sequence, etag);
  };
  function drawStatus() {
    replace(statusSlot, h("span", {}, "Status: ", badge(sequence.status), " "),
      statuses.filter((s) => s !== sequence.status).map((s) => button(`Set ${s}`, () => setStatus(s).catch((e) => statusSlot.append(errorView(e))))),
      deleteButton("Delete sequence", {
        question: () => `Delete the sequence "${sequence.name}"?`, remove: () => api.delete(url`/api/v1/agents/${id}/sequences/${sequenceId}`),
        back: `#/agents/${encodeURIComponent(id)}/sequences`, onError: (view) => statusSlot.append(view) }));
  }
  function drawForm() {
    form = sequenceBuilder(id, sequence, etag, (saved, tag) => {
      sequence = saved; etag = tag; drawStatus(); drawForm();
      showSaved(formSlot.querySelector(".form-errors"), saved);
    });
    replace(formSlot, form);
  }
  drawStatus();
  drawForm();
  takeFlash(formSlot.querySelector(".form-errors"), sequence.id);
  page.append(h("p", { class: "crumbs" }, link(`#/agents/${encodeURIComponent(id)}/sequences`, "All sequences")),
    statusSlot, formSlot, enrollmentsCard(id, sequenceId));
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
