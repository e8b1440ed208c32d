// Sales scripts of an agent: search and filters, create and edit, a rendered preview for a lead or
// sample values, every version with rollback, and how well each script does.

import { h, replace, badge, table, time, link, button, field, input, textarea, select, checkbox, notice, jsonBlock,
  showErrors, clearErrors, errorView, parseJSON, splitList, splitIntegers, details, fieldError } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { formCard, saveOnSubmit, showSaved, titleRow, deleteButton, takeFlash } from "./forms.js";
import { agentHeader } from "./agents.js";
import { scriptStatsView } from "../charts.js";
import { kommoName } from "../names.js";
import { loadCatalog, idPicker, keepingFocus } from "../builders/catalog.js";

const types = ["greeting", "qualification", "presentation", "objection_handling", "closing"];

export async function scriptsPage(page, { id }, query) {
  await agentHeader(page, id, "/scripts");
  const formSlot = h("div", {});
  const q = input({ type: "search", value: query.get("q") || "", placeholder: "words in name or text" });
  const type = select(["", ...types], query.get("type") || "");
  const stage = input({ value: query.get("stage_id") || "", placeholder: "stage id" });
  const active = select([["", "any"], ["true", "active"], ["false", "inactive"]], query.get("active") || "");
  const list = h("div", {});
  const filters = h("form", { class: "filters" }, field("Search", q), field("Type", type), field("Stage", stage), field("Active", active), h("button", { type: "submit" }, "Search"));
  const load = () => replace(list, pagedList((cursor) => api.get(url`/api/v1/agents/${id}/scripts`,
    { cursor, limit: 50, q: q.value.trim(), type: type.value, stage_id: stage.value.trim(), active: active.value }).then((r) => r.data), (items) => table([
    { title: "Name", cell: (s) => link(`#/agents/${encodeURIComponent(id)}/scripts/${encodeURIComponent(s.id)}`, s.name) },
    { title: "Type", cell: (s) => h("code", {}, s.type) },
    { title: "Active", cell: (s) => badge(s.active === false ? "disabled" : "active") },
    { title: "Stages", cell: (s) => (s.stage_ids || []).length ? s.stage_ids.flatMap((stage, i) => [i ? ", " : "", kommoName("stage", stage)]) : "any" },
    { title: "Text", cell: (s) => h("span", { class: "clip" }, s.body || "") },
    { title: "Version", cell: (s) => String(s.version ?? "") },
    { title: "Updated", cell: (s) => time(s.updated_at) },
  ], items, "No scripts match.")));
  filters.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
  const ranking = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  api.get(url`/api/v1/agents/${id}/scripts-ranking`).then((r) => replace(ranking, rankingView(r.data))).catch((e) => replace(ranking, errorView(e)));
  page.append(
    titleRow(h("h2", {}, "Sales scripts"), "New script", formSlot, (done) => scriptForm(id, null, "", done),
      (s) => `#/agents/${encodeURIComponent(id)}/scripts/${encodeURIComponent(s.id)}`),
    formSlot, filters, list,
    h("section", { class: "card" }, h("h2", {}, "Ranking"), ranking));
}

function rankingView(report) {
  const rows = (report && (report.items || report.scripts || report.ranking)) || [];
  if (!Array.isArray(rows) || !rows.length) return h("div", {}, h("p", { class: "muted" }, "No usage recorded yet."), report && Object.keys(report).length ? details("Report", jsonBlock(report)) : null);
  const columns = Object.keys(rows[0]).filter((k) => typeof rows[0][k] !== "object").slice(0, 8);
  return table(columns.map((k) => ({ title: k.replace(/_/g, " "), cell: (row) => typeof row[k] === "number" ? String(Math.round(row[k] * 1000) / 1000) : String(row[k] ?? "") })), rows);
}

export async function scriptPage(page, { id, scriptId }) {
  await agentHeader(page, id, "/scripts");
  const answer = await api.get(url`/api/v1/agents/${id}/scripts/${scriptId}`);
  let script = answer.data;
  let etag = answer.etag;
  const formSlot = h("div", {});
  const versionsSlot = h("div", {});
  const drawForm = () => replace(formSlot, scriptForm(id, script, etag, (saved, tag) => {
    script = saved; etag = tag; drawForm(); drawVersions(); drawStats();
    showSaved(formSlot.querySelector(".form-errors"), saved);
  }));
  async function drawVersions() {
    try {
      const list = await api.get(url`/api/v1/agents/${id}/scripts/${scriptId}/versions`);
      replace(versionsSlot, table([
        { title: "Version", cell: (v) => String(v.version) + (v.version === list.data.current_version ? " (current)" : "") },
        { title: "Saved", cell: (v) => time(v.created_at) },
        { title: "Text", cell: (v) => h("span", { class: "clip" }, (v.script && v.script.body) || "") },
        { title: "", cell: (v) => v.version === list.data.current_version ? "" : button("Roll back to this", async () => {
          if (!confirm(`Make version ${v.version} current again? (It becomes a new version.)`)) return;
          try {
            const saved = await api.post(url`/api/v1/agents/${id}/scripts/${scriptId}/rollback`, { version: v.version }, { ifMatch: etag });
            script = saved.data; etag = saved.etag; drawForm(); drawVersions(); drawStats();
          } catch (error) { versionsSlot.prepend(errorView(error)); }
        }, { kind: "small" }) },
      ], list.data.items || []));
    } catch (error) { replace(versionsSlot, errorView(error)); }
  }
  const stats = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  // Asked again after every save and rollback, so the tiles speak of the current version.
  function drawStats() {
    api.get(url`/api/v1/agents/${id}/scripts/${scriptId}/stats`).then((r) => replace(stats, scriptStatsView(r.data))).catch((e) => replace(stats, errorView(e)));
  }
  drawForm();
  takeFlash(formSlot.querySelector(".form-errors"), script.id);
  drawVersions();
  drawStats();
  page.append(
    h("p", { class: "crumbs" }, link(`#/agents/${encodeURIComponent(id)}/scripts`, "All scripts")),
    h("div", { class: "actions" }, deleteButton("Delete script", {
      question: () => `Delete the script "${script.name}"?`, remove: () => api.delete(url`/api/v1/agents/${id}/scripts/${scriptId}`),
      back: `#/agents/${encodeURIComponent(id)}/scripts`, onError: (view) => formSlot.prepend(view) })),
    formSlot,
    renderCard(id, scriptId),
    h("section", { class: "card" }, h("h2", {}, "Versions"), versionsSlot),
    h("section", { class: "card" }, h("h2", {}, "Effectiveness"), stats));
}

function scriptForm(agentID, script, etag, done) {
  const s = script || { type: "greeting", active: true, block_on_missing: true, body: "Hi {{contact.first_name|there}}!" };
  const name = input({ value: s.name || "" });
  const type = select(types, s.type || "greeting");
  const body = textarea({ rows: 6 });
  body.value = s.body || "";
  // The stages and the pipeline are ids, picked by name once the Kommo catalog is read (typed in when no
  // account is connected); the stages offered are the chosen pipeline's.
  let stageIDs = [...(s.stage_ids || [])];
  let pipelineID = s.pipeline_id ?? undefined;
  const placement = h("div", { class: "grid" });
  let catalog = { connected: false };
  const drawPlacement = () => {
    const stages = idPicker(catalog, "stage", stageIDs, { multiple: true, pipelineID, onchange: (ids) => { stageIDs = ids; } });
    const pipeline = idPicker(catalog, "pipeline", pipelineID, { optional: true, onchange: (id) => {
      pipelineID = id;
      const offered = catalog.connected && id !== undefined ? new Set(((catalog.pipelines.find((p) => Number(p.id) === Number(id)) || {}).stages || []).map((x) => Number(x.id))) : null;
      if (offered) stageIDs = stageIDs.filter((x) => offered.has(Number(x)));
      keepingFocus(drawPlacement);
    } });
    replace(placement,
      field("Pipeline", pipeline, { name: "pipeline_id", hint: catalog.connected ? "Any: the stages of every pipeline." : "A Kommo pipeline id; empty: any." }),
      field("Stages", stages, { name: "stage_ids", hint: catalog.connected ? "Ctrl- or ⌘-click picks several; none: any." : "Comma-separated Kommo stage ids; empty: any." }));
  };
  // Drawn once the catalog is read, so a control does not change from an id field to a picker under the user.
  replace(placement, h("p", { class: "muted small" }, "Loading the Kommo account's pipelines and stages…"));
  loadCatalog().then((loaded) => { catalog = loaded; keepingFocus(drawPlacement); });
  const language = input({ value: s.language || "" });
  const active = checkbox(s.active !== false);
  const block = checkbox(s.block_on_missing !== false);
  const phrases = input({ value: (s.trigger_phrases || []).join(", "), placeholder: "price, discount" });
  const variables = input({ value: (s.variables || []).join(", "), placeholder: "promo_code" });
  const form = formCard(script ? "Edit script" : "New script",
    h("div", { class: "grid" },
      field("Name", name, { name: "name" }),
      field("Type", type, { name: "type" }),
      field("Language", language, { name: "language" }),
      field("Active", active, { name: "active" })),
    field("Text", body, { name: "body", hint: "Variables: {{lead.name}}, {{contact.first_name|default}}, {{agent.name}}, and the ones declared below." }),
    placement,
    h("div", { class: "grid" },
      field("Trigger phrases", phrases, { name: "trigger_phrases" }),
      field("Own variables", variables, { name: "variables" }),
      field("Block the send when a value is missing", block, { name: "block_on_missing" })),
    h("button", { type: "submit", class: "primary" }, script ? "Save (new version)" : "Create script"));
  saveOnSubmit(form, {
    create: (value, options) => api.post(url`/api/v1/agents/${agentID}/scripts`, value, options),
    update: script && ((value, options) => api.patch(url`/api/v1/agents/${agentID}/scripts/${script.id}`, value, options)), etag, done,
    reread: script && (() => api.get(url`/api/v1/agents/${agentID}/scripts/${script.id}`)),
    body() {
      const value = {
        name: name.value, type: type.value, body: body.value, language: language.value.trim(), active: active.checked,
        block_on_missing: block.checked, stage_ids: [...stageIDs],
        trigger_phrases: splitList(phrases.value), variables: splitList(variables.value),
      };
      // A typed id list that is not one is refused here, at its field.
      for (const [path, message] of [["stage_ids", "is not a list of ids (whole numbers, comma-separated)"], ["pipeline_id", "must be a number"]]) {
        const control = placement.querySelector(`[data-field="${path}"] input[data-picker]`);
        if (control && !control.checkValidity()) throw fieldError(path, message);
      }
      if (pipelineID !== undefined) value.pipeline_id = pipelineID;
      else if (script) value.pipeline_id = null;
      return value;
    },
  });
  return form;
}

function renderCard(agentID, scriptID) {
  const lead = input({ placeholder: "a lead id (optional)" });
  const values = textarea({ rows: 3, class: "code", spellcheck: "false", placeholder: '{"contact.first_name": "Ana", "promo_code": "SPRING"}' });
  const result = h("div", {});
  const form = h("form", { class: "card" },
    h("h2", {}, "Preview"),
    h("p", { class: "muted" }, "Renders the script with what is known of a lead, sample values on top, or both."),
    h("div", { class: "form-errors" }),
    h("div", { class: "grid" }, field("Lead", lead, { name: "lead_id" }), field("Sample values (JSON)", values, { name: "values" })),
    h("button", { type: "submit" }, "Render"),
    result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    replace(result);
    try {
      const body = {};
      if (lead.value.trim()) body.lead_id = lead.value.trim();
      const sample = parseJSON(values.value, "values", { optional: true });
      if (sample !== undefined) body.values = sample;
      const answer = await api.post(url`/api/v1/agents/${agentID}/scripts/${scriptID}/render`, body);
      const r = answer.data;
      replace(result, r.blocked
        ? notice("error", h("strong", {}, "Blocked: "), r.reason || "a value is missing", (r.missing || []).length ? h("div", {}, "Missing: ", r.missing.join(", ")) : null)
        : h("div", {}, h("pre", { class: "preview" }, r.text || ""), (r.missing || []).length ? notice("info", "Defaults used for: ", r.missing.join(", ")) : null,
          h("p", { class: "muted small" }, `Version ${r.version}`)));
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}
