// AI agents: the list, creating one, and one agent's settings with its tabs (rules, sequences, scripts).

import { h, pretty, replace, badge, table, time, link, button, field, input, textarea, select, checkbox, notice,
  errorView, splitList, splitIntegers, parseJSON } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { formCard, saveOnSubmit, titleRow } from "./forms.js";
import { codeEditor } from "../charts.js";

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
    replace(formSlot, agentForm(agent, etag, (saved, newTag) => { agent = saved; etag = newTag; answer.showAgent(agent); draw(); replace(formSlot.querySelector(".form-errors") || formSlot, notice("ok", "Saved.")); }));
  }
  draw();
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
  const pipelines = textarea({ rows: 3, class: "code", placeholder: '[{"pipeline_id": 7100001, "stage_ids": [61234501]}]' });
  pipelines.value = a.pipelines && a.pipelines.length ? pretty(a.pipelines) : "";
  const hours = textarea({ rows: 3, class: "code", placeholder: '{"time_zone": "Europe/Madrid", "days": ["mon","tue"], "start": "09:00", "end": "18:00"}' });
  hours.value = a.working_hours ? pretty(a.working_hours) : "";
  const pause = a.pause_on_human_reply || { enabled: true, resume_after_seconds: 86400 };
  const pauseEnabled = checkbox(pause.enabled !== false);
  const resumeAfter = input({ type: "number", min: 0, value: pause.resume_after_seconds ?? 86400 });
  const resumeStages = input({ value: (pause.resume_stage_ids || []).join(", "), placeholder: "61234503" });
  const form = formCard(agent ? "Settings" : "New agent",
    h("div", { class: "grid" },
      field("Name", name, { name: "name" }),
      field("Status", status, { name: "status", hint: "A paused agent's rules do not fire." }),
      field("Language", language, { name: "language", hint: "A tag such as es or pt-BR; auto or empty: the lead's own." }),
      field("Channels", channels, { name: "channels", hint: "Comma-separated origins (waba, telegram, …); empty: all." })),
    field("Description", description, { name: "description" }),
    field("Persona", persona, { name: "persona", hint: "How the AI speaks for this agent." }),
    field("Pipelines and stages (JSON)", pipelines, { name: "pipelines", hint: "Empty: every pipeline." }),
    field("Working hours (JSON)", hours, { name: "working_hours", hint: "Empty: always." }),
    h("div", { class: "grid" },
      field("Pause when a person replies", pauseEnabled, { name: "pause_on_human_reply" }),
      field("Resume after (seconds, 0 = by hand)", resumeAfter, { name: "pause_on_human_reply.resume_after_seconds" }),
      field("Resume on entering stages", resumeStages, { name: "pause_on_human_reply.resume_stage_ids", hint: "Comma-separated stage ids." })),
    h("button", { type: "submit", class: "primary" }, agent ? "Save" : "Create agent"));
  // The JSON fields edit with CodeMirror where it is installed.
  codeEditor(pipelines);
  codeEditor(hours);
  saveOnSubmit(form, {
    create: (value, options) => api.post(url`/api/v1/agents`, value, options),
    update: agent && ((value, options) => api.patch(url`/api/v1/agents/${agent.id}`, value, options)), etag, done,
    reread: agent && (() => api.get(url`/api/v1/agents/${agent.id}`)),
    body() {
      const body = {
        name: name.value, description: description.value, status: status.value, persona: persona.value, language: language.value.trim(),
        channels: splitList(channels.value),
        pipelines: parseJSON(pipelines.value, "pipelines", { optional: true }) || [],
        pause_on_human_reply: {
          enabled: pauseEnabled.checked, resume_after_seconds: Number(resumeAfter.value || 0),
          resume_stage_ids: splitIntegers(resumeStages.value, "pause_on_human_reply.resume_stage_ids"),
        },
      };
      const workingHours = parseJSON(hours.value, "working_hours", { optional: true });
      if (workingHours !== undefined) body.working_hours = workingHours; else if (agent) body.working_hours = null;
      return body;
    },
  });
  return form;
}
