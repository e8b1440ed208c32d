// AI agents: the list, creating one, and one agent's settings with its tabs (rules, sequences, scripts).

import { h, pretty, replace, badge, table, time, link, button, field, input, textarea, select, checkbox, notice,
  errorView, splitList, parseJSON, fieldError } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { formCard, saveOnSubmit, showSaved, takeFlash, titleRow } from "./forms.js";
import { codeEditor } from "../charts.js";
import { loadCatalog, idPicker, keepingFocus } from "../builders/catalog.js";

export async function agentsPage(page) {
  const formSlot = h("div", {});
  page.append(
    titleRow(h("h1", {}, "Agents"), "New agent", formSlot, (done) => agentForm(null, "", done),
      (created) => `#/agents/${encodeURIComponent(created.id)}`),
    formSlot,
    pagedList((cursor) => api.get(url`/api/v1/agents`, { cursor, limit: 50 }).then((r) => r.data), (items) => table([
      { title: "Name", cell: (a) => link(`#/agents/${encodeURIComponent(a.id)}`, a.name) },
      { title: "Status", cell: (a) => badge(a.status) },
      { title: "Language", cell: (a) => a.language || "lead's" },
      { title: "Channels", cell: (a) => (a.channels || []).join(", ") || "all" },
      { title: "Updated", cell: (a) => time(a.updated_at) },
      { title: "", cell: (a) => h("span", { class: "links" },
        link(`#/agents/${encodeURIComponent(a.id)}/rules`, "Rules"), link(`#/agents/${encodeURIComponent(a.id)}/sequences`, "Sequences"),
        link(`#/agents/${encodeURIComponent(a.id)}/scripts`, "Scripts")) },
    ], items, "No agents yet.")));
}

/** The header of every agent page: its name, status and the tabs. */
export async function agentHeader(page, agentID, active) {
  const title = h("h1", {}, "Agent");
  const tabs = [["", "Settings"], ["/rules", "Rules"], ["/sequences", "Sequences"], ["/scripts", "Scripts"], ["/knowledge", "Knowledge"]].map(([suffix, text]) =>
    h("a", { href: `#/agents/${encodeURIComponent(agentID)}${suffix}`, class: suffix === active ? "tab active" : "tab", "aria-current": suffix === active ? "page" : null }, text));
  page.append(h("p", { class: "crumbs" }, link("#/agents", "Agents"), " / "), title, h("nav", { class: "tabs" }, tabs));
  const answer = await api.get(url`/api/v1/agents/${agentID}`);
  // Redraws the heading after a change of the agent (its name, a pause or a resume).
  answer.showAgent = (agent) => replace(title, agent.name || agentID, " ", badge(agent.status));
  answer.showAgent(answer.data);
  return answer;
}

export async function agentPage(page, { id }) {
  const answer = await agentHeader(page, id, "");
  let etag = answer.etag;
  let agent = answer.data;
  const actions = h("div", { class: "actions" });
  const formSlot = h("div", {});
  function draw() {
    replace(actions,
      button(agent.status === "paused" ? "Resume agent" : "Pause agent", async () => {
        try {
          const next = await api.patch(url`/api/v1/agents/${id}`, { status: agent.status === "paused" ? "active" : "paused" }, { ifMatch: etag });
          agent = next.data; etag = next.etag; answer.showAgent(agent); draw();
        } catch (error) { actions.append(errorView(error)); }
      }),
      button("Delete agent", async () => {
        if (!confirm(`Delete the agent "${agent.name}"?`)) return;
        try {
          await api.delete(url`/api/v1/agents/${id}`);
        } catch (error) {
          if (![409, 412].includes(error.status) || !confirm(`${error.message}\n\nDelete the agent with all its rules and scripts?`)) { actions.append(errorView(error)); return; }
          try { await api.delete(url`/api/v1/agents/${id}`, { cascade: "true" }); } catch (again) { actions.append(errorView(again)); return; }
        }
        location.hash = "#/agents";
      }, { kind: "danger" }));
    replace(formSlot, agentForm(agent, etag, (saved, newTag) => { agent = saved; etag = newTag; answer.showAgent(agent); draw(); showSaved(formSlot.querySelector(".form-errors"), saved); }));
  }
  draw();
  takeFlash(formSlot.querySelector(".form-errors"), agent.id);
  page.append(actions, formSlot);
}

/** Create (`agent` null) or edit form. */
function agentForm(agent, etag, done) {
  const a = agent || {};
  const name = input({ value: a.name || "", required: true, maxlength: 200 });
  const description = textarea({ rows: 2 });
  description.value = a.description || "";
  const status = select(["active", "paused"], a.status || "active");
  const persona = textarea({ rows: 4 });
  persona.value = a.persona || "";
  const language = input({ value: a.language || "", placeholder: "es, pt-BR; empty: the lead's" });
  const channels = input({ value: (a.channels || []).join(", "), placeholder: "waba, telegram; empty: all" });
  // The pipelines and stages, and the stages that resume, are edited as ids; the controls pick them by
  // name once the Kommo catalog is read (ids typed in when no account is connected).
  const chosenPipelines = (a.pipelines || []).map((p) => ({ ...p, stage_ids: [...(p.stage_ids || [])] }));
  const pipelines = pipelinesEditor(chosenPipelines);
  const hours = textarea({ rows: 3, class: "code", placeholder: '{"time_zone": "Europe/Madrid", "days": ["mon","tue"], "start": "09:00", "end": "18:00"}' });
  hours.value = a.working_hours ? pretty(a.working_hours) : "";
  const pause = a.pause_on_human_reply || { enabled: true, resume_after_seconds: 86400 };
  const pauseEnabled = checkbox(pause.enabled !== false);
  const resumeAfter = input({ type: "number", min: 0, value: pause.resume_after_seconds ?? 86400 });
  let resumeStageIDs = [...(pause.resume_stage_ids || [])];
  const resumeStages = h("div", {});
  const drawResumeStages = (catalog) => replace(resumeStages, field("Resume on entering stages",
    idPicker(catalog, "stage", resumeStageIDs, { multiple: true, onchange: (ids) => { resumeStageIDs = ids; } }),
    { name: "pause_on_human_reply.resume_stage_ids", hint: catalog.connected ? "Ctrl- or ⌘-click picks several; none: only by time or by hand." : "Comma-separated stage ids." }));
  replace(resumeStages, h("p", { class: "muted small" }, "Loading the Kommo account's stages…"));
  const form = formCard(agent ? "Settings" : "New agent",
    h("div", { class: "grid" },
      field("Name", name, { name: "name" }),
      field("Status", status, { name: "status", hint: "A paused agent's rules do not fire." }),
      field("Language", language, { name: "language", hint: "A tag such as es or pt-BR; auto or empty: the lead's own." }),
      field("Channels", channels, { name: "channels", hint: "Comma-separated origins (waba, telegram, …); empty: all." })),
    field("Description", description, { name: "description" }),
    field("Persona", persona, { name: "persona", hint: "How the AI speaks for this agent." }),
    h("fieldset", { class: "field", "data-field": "pipelines" }, h("legend", {}, "Pipelines and stages"),
      h("small", { class: "hint" }, "None: every pipeline. A pipeline without stages: all its stages."), pipelines,
      h("div", { class: "field-error", role: "alert" })),
    field("Working hours (JSON)", hours, { name: "working_hours", hint: "Empty: always." }),
    h("div", { class: "grid" },
      field("Pause when a person replies", pauseEnabled, { name: "pause_on_human_reply" }),
      field("Resume after (seconds, 0 = by hand)", resumeAfter, { name: "pause_on_human_reply.resume_after_seconds" }),
      resumeStages),
    h("button", { type: "submit", class: "primary" }, agent ? "Save" : "Create agent"));
  // The JSON fields edit with CodeMirror where it is installed.
  const hoursEditor = codeEditor(hours);
  // The pickers drawn once the catalog is read move the editor below them: it measures itself again.
  loadCatalog().then((catalog) => {
    keepingFocus(() => { pipelines.redraw(catalog); drawResumeStages(catalog); });
    hoursEditor.then((editor) => editor && editor.refresh());
  });
  saveOnSubmit(form, {
    create: (value, options) => api.post(url`/api/v1/agents`, value, options),
    update: agent && ((value, options) => api.patch(url`/api/v1/agents/${agent.id}`, value, options)), etag, done,
    reread: agent && (() => api.get(url`/api/v1/agents/${agent.id}`)),
    body() {
      const body = {
        name: name.value, description: description.value, status: status.value, persona: persona.value, language: language.value.trim(),
        channels: splitList(channels.value),
        pipelines: pipelines.value(),
        pause_on_human_reply: {
          enabled: pauseEnabled.checked, resume_after_seconds: Number(resumeAfter.value || 0),
          resume_stage_ids: checkedIDs(resumeStages, "pause_on_human_reply.resume_stage_ids", resumeStageIDs),
        },
      };
      const workingHours = parseJSON(hours.value, "working_hours", { optional: true });
      if (workingHours !== undefined) body.working_hours = workingHours; else if (agent) body.working_hours = null;
      return body;
    },
  });
  return form;
}

/**
 * The agent's pipelines, one row each: the pipeline and the stages of it the agent works in, picked by name
 * from the Kommo catalog (ids when no account is connected), with add and remove. `value()` is the
 * `pipelines` list as stored: `[{pipeline_id, stage_ids}]`; `redraw(catalog)` draws it again.
 */
function pipelinesEditor(chosen) {
  const rows = h("ol", { class: "pipeline-rows" });
  let catalog = { connected: false };
  function draw() {
    replace(rows, chosen.map((entry, index) => {
      const path = `pipelines[${index}]`;
      const pipelineName = catalog.connected && (catalog.pipelines.find((p) => Number(p.id) === Number(entry.pipeline_id)) || {}).name;
      const rowLabel = `pipeline ${index + 1}${pipelineName ? ` (${pipelineName})` : ""}`;
      const pipeline = idPicker(catalog, "pipeline", entry.pipeline_id, { onchange: (id) => {
        entry.pipeline_id = id;
        // Stages of another pipeline do not carry over (won and lost are in every one).
        const stages = catalog.connected ? new Set(((catalog.pipelines.find((p) => Number(p.id) === Number(id)) || {}).stages || []).map((s) => Number(s.id))) : null;
        if (stages) entry.stage_ids = entry.stage_ids.filter((s) => stages.has(Number(s)));
        keepingFocus(draw);
      } });
      const stages = idPicker(catalog, "stage", entry.stage_ids, { multiple: true, pipelineID: entry.pipeline_id, onchange: (ids) => { entry.stage_ids = ids; } });
      const remove = button("Remove", () => { chosen.splice(index, 1); draw(); }, { kind: "small", label: `Remove ${rowLabel}` });
      return h("li", { class: "pipeline-row", "data-field": path },
        h("div", { class: "grid" },
          field("Pipeline", pipeline, { name: `${path}.pipeline_id` }),
          field("Stages", stages, { name: `${path}.stage_ids`, hint: catalog.connected ? "Ctrl- or ⌘-click picks several; none: all." : "Comma-separated stage ids; empty: all." })),
        remove, h("div", { class: "field-error", role: "alert" }));
    }), h("li", { class: "pipeline-add" }, button("Add a pipeline", () => {
      chosen.push({ pipeline_id: undefined, stage_ids: [] });
      draw();
      const added = rows.querySelectorAll(".pipeline-row");
      const control = added[added.length - 1] && added[added.length - 1].querySelector("select, input");
      if (control) control.focus();
    }, { kind: "small" })));
  }
  // Drawn once the catalog is read, so a control does not change from an id field to a picker under the user.
  replace(rows, h("li", { class: "muted small" }, "Loading the Kommo account's pipelines…"));
  rows.redraw = (next) => { catalog = next; draw(); };
  rows.value = () => chosen.map((entry, index) => {
    const path = `pipelines[${index}]`;
    const row = rows.querySelector(`[data-field="${path}"]`);
    checkedIDs(row && row.querySelector(`[data-field="${path}.pipeline_id"]`), `${path}.pipeline_id`);
    return { pipeline_id: entry.pipeline_id ?? null, stage_ids: checkedIDs(row && row.querySelector(`[data-field="${path}.stage_ids"]`), `${path}.stage_ids`, entry.stage_ids) };
  });
  return rows;
}

/** `ids`, unless the id field in `container` holds something that is not an id (then an error at `path`). */
function checkedIDs(container, path, ids) {
  const control = container && container.querySelector("input[data-picker]");
  if (control && !control.checkValidity()) throw fieldError(path, `"${control.value}" is not a list of ids (whole numbers, comma-separated)`);
  return ids;
}
