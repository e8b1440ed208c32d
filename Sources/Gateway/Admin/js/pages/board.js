// The pipeline board: the tenant's pipelines as columns of stages, each listing what happens there —
// rules that entering the stage triggers (and rules that move leads into it), sequences it starts or
// ends, and the sales scripts bound to it — with links into each editor. Pipelines and stages come from
// the Kommo catalog; without a connected account, from the ids the rules, sequences and scripts mention.

import { h, replace, link, notice, errorView } from "../dom.js";
import { api, url } from "../api.js";
import { loadCatalog } from "../builders/catalog.js";

const WON = 142;
const LOST = 143;

/** Every item of a paged list (a few pages at most: the board is an overview, not an export). */
async function all(load) {
  const items = [];
  let cursor;
  for (let page = 0; page < 10; page++) {
    const answer = await load(cursor);
    items.push(...(answer.items || []));
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/** What the tenant's agents hold: their rules, sequences and scripts, each with its agent. */
async function gather() {
  const agents = await all((cursor) => api.get(url`/api/v1/agents`, { cursor, limit: 100 }).then((r) => r.data));
  const rules = [], sequences = [], scripts = [];
  await Promise.all(agents.map(async (agent) => {
    const [r, s, c] = await Promise.all([
      all((cursor) => api.get(url`/api/v1/agents/${agent.id}/rules`, { cursor, limit: 100 }).then((x) => x.data)),
      all((cursor) => api.get(url`/api/v1/agents/${agent.id}/sequences`, { cursor, limit: 100 }).then((x) => x.data)),
      all((cursor) => api.get(url`/api/v1/agents/${agent.id}/scripts`, { cursor, limit: 100 }).then((x) => x.data)),
    ]);
    rules.push(...r.map((item) => ({ ...item, agent })));
    sequences.push(...s.map((item) => ({ ...item, agent })));
    scripts.push(...c.map((item) => ({ ...item, agent })));
  }));
  return { agents, rules, sequences, scripts };
}

/** Stage ids (with their pipeline, when known) the documents mention. */
function mentionedStages({ rules, sequences, scripts }) {
  const found = [];
  const note = (pipeline, stage) => { if (stage) found.push({ pipeline: pipeline ? Number(pipeline) : null, stage: Number(stage) }); };
  const notePipeline = (pipeline) => { if (pipeline) found.push({ pipeline: Number(pipeline), stage: null }); };
  for (const rule of rules) {
    const t = rule.trigger || {};
    note(t.pipeline_id, t.stage_id); notePipeline(t.pipeline_id);
    for (const a of rule.actions || []) if (a.type === "change_stage") note(a.pipeline_id, a.stage_id);
  }
  for (const s of sequences) {
    note(s.trigger && s.trigger.pipeline_id, s.trigger && s.trigger.stage_id);
    for (const exit of s.exit_conditions || []) if (exit.stage_id) note(null, exit.stage_id);
  }
  for (const script of scripts) for (const stage of script.stage_ids || []) note(script.pipeline_id, stage);
  return found;
}

/** Pipelines with their stages, from the catalog or else from what the documents mention. */
function boardPipelines(catalog, data) {
  if (catalog.connected && catalog.pipelines.length) {
    return catalog.pipelines.slice().sort((a, b) => (a.sort ?? 0) - (b.sort ?? 0)).map((p) => ({
      id: Number(p.id), name: p.name, known: true,
      stages: p.stages.slice().sort((a, b) => (a.sort ?? 0) - (b.sort ?? 0)).map((s) => ({ id: Number(s.id), name: s.name, color: s.color, kind: s.kind })),
    }));
  }
  const byPipeline = new Map();
  const loose = new Set();
  for (const { pipeline, stage } of mentionedStages(data)) {
    if (pipeline) {
      if (!byPipeline.has(pipeline)) byPipeline.set(pipeline, new Set());
      if (stage && stage !== WON && stage !== LOST) byPipeline.get(pipeline).add(stage);
    } else if (stage && stage !== WON && stage !== LOST) {
      loose.add(stage);
    }
  }
  // A stage named without its pipeline joins the pipeline that names it elsewhere, if any.
  for (const stage of [...loose]) for (const stages of byPipeline.values()) if (stages.has(stage)) loose.delete(stage);
  const closing = [{ id: WON, name: "Won", kind: "won" }, { id: LOST, name: "Lost", kind: "lost" }];
  const pipelines = [...byPipeline.entries()].sort((a, b) => a[0] - b[0]).map(([id, stages]) => ({
    id, name: `Pipeline #${id}`, known: false,
    stages: [...[...stages].sort((a, b) => a - b).map((s) => ({ id: s, name: "Stage" })), ...closing],
  }));
  if (loose.size || !pipelines.length) {
    pipelines.push({ id: null, name: "Stages without a pipeline", known: false,
      stages: [...[...loose].sort((a, b) => a - b).map((s) => ({ id: s, name: "Stage" })), ...closing] });
  }
  return pipelines;
}

const inPipeline = (filter, pipeline) => !filter || pipeline.id === null || Number(filter) === pipeline.id;

/** What happens at `stage` of `pipeline`. */
function stageContents(stage, pipeline, data) {
  const at = (filterPipeline, stageID) => Number(stageID) === stage.id && inPipeline(filterPipeline, pipeline);
  const entering = data.rules.filter((r) => {
    const t = r.trigger || {};
    return (t.type === "stage_changed" || (t.type === "time_based" && t.anchor === "stage_entered")) && at(t.pipeline_id, t.stage_id);
  });
  const moving = data.rules.filter((r) => (r.actions || []).some((a) => a.type === "change_stage" && at(a.pipeline_id, a.stage_id)));
  const starts = data.sequences.filter((s) => s.trigger && s.trigger.type === "stage_changed" && at(s.trigger.pipeline_id, s.trigger.stage_id));
  const ends = data.sequences.filter((s) => (s.exit_conditions || []).some((e) => e.type === "stage_changed" &&
    (Number(e.stage_id) === stage.id || (e.to === "won" && stage.id === WON) || (e.to === "lost" && stage.id === LOST))));
  const scripts = data.scripts.filter((s) => (s.stage_ids || []).map(Number).includes(stage.id) && inPipeline(s.pipeline_id, pipeline));
  return { entering, moving, starts, ends, scripts };
}

const agentPath = (item) => `#/agents/${encodeURIComponent(item.agent.id)}`;
const ruleLink = (r) => link(`${agentPath(r)}/rules/${encodeURIComponent(r.id)}`, r.name || r.id);
const sequenceLink = (s) => link(`${agentPath(s)}/sequences/${encodeURIComponent(s.id)}`, s.name || s.id);
const scriptLink = (s) => link(`${agentPath(s)}/scripts/${encodeURIComponent(s.id)}`, s.name || s.id);

function list(title, items, view, extra) {
  if (!items.length) return null;
  return [h("h4", {}, title), h("ul", {}, items.map((item) => h("li", {}, view(item), extra ? extra(item) : null)))];
}

/** Kommo's colour of a stage as a dot; set through the CSSOM, which the CSP allows (a style attribute it does not). */
function stageColor(color) {
  const dot = h("span", { class: "stage-color", "aria-hidden": "true" });
  dot.style.backgroundColor = /^#[0-9a-f]{3,8}$/i.test(color) ? color : "#ccc";
  return dot;
}

function column(stage, pipeline, data) {
  const c = stageContents(stage, pipeline, data);
  const empty = !c.entering.length && !c.moving.length && !c.starts.length && !c.ends.length && !c.scripts.length;
  const trigger = (r) => (r.trigger.type === "time_based" ? h("span", { class: "muted small" }, ` · after ${Math.round(r.trigger.after_seconds / 3600 * 10) / 10} h`) : null);
  const disabled = (r) => (r.enabled === false ? h("span", { class: "muted small" }, " · disabled") : null);
  return h("section", { class: "board-column", "data-stage": String(stage.id), "aria-label": `${pipeline.name}: ${stage.name} (#${stage.id})` },
    h("h3", {}, stage.color ? stageColor(stage.color) : null,
      stage.name, " ", h("span", { class: "muted small" }, `#${stage.id}`)),
    empty ? h("p", { class: "muted small" }, "Nothing happens here.") : null,
    list("Rules on entering", c.entering, ruleLink, (r) => [trigger(r), disabled(r)]),
    list("Rules moving leads here", c.moving, ruleLink, disabled),
    list("Sequences it starts", c.starts, sequenceLink, (s) => h("span", { class: "muted small" }, ` · ${s.status}`)),
    list("Sequences it ends", c.ends, sequenceLink),
    list("Scripts", c.scripts, scriptLink));
}

/** Rules of a pipeline (or of every pipeline) that no single stage holds: "enters any stage". */
function anyStage(pipeline, data) {
  const rules = data.rules.filter((r) => r.trigger && r.trigger.type === "stage_changed" && !r.trigger.stage_id && inPipeline(r.trigger.pipeline_id, pipeline));
  const sequences = data.sequences.filter((s) => s.trigger && s.trigger.type === "stage_changed" && !s.trigger.stage_id && inPipeline(s.trigger.pipeline_id, pipeline));
  if (!rules.length && !sequences.length) return null;
  return h("section", { class: "board-column", "data-stage": "any", "aria-label": `${pipeline.name}: any stage` },
    h("h3", {}, "Any stage"), list("Rules on entering", rules, ruleLink), list("Sequences it starts", sequences, sequenceLink));
}

export async function boardPage(page) {
  page.append(h("h1", {}, "Pipeline board"),
    h("p", { class: "muted" }, "What happens in each stage: the rules entering it triggers, the sequences it starts or ends, the scripts bound to it."));
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  page.append(body);
  let catalog, data;
  try {
    [catalog, data] = await Promise.all([loadCatalog(), gather()]);
  } catch (error) {
    replace(body, errorView(error));
    return;
  }
  const pipelines = boardPipelines(catalog, data);
  replace(body,
    catalog.connected ? null : notice("info", "No Kommo account is connected: the board shows the stage ids your rules, sequences and scripts mention. ",
      link("#/integrations", "Connect Kommo"), " to see every pipeline and stage by name."),
    pipelines.map((pipeline) => h("section", { class: "card", "data-pipeline": pipeline.id === null ? "" : String(pipeline.id) },
      h("h2", {}, pipeline.name, pipeline.id !== null && pipeline.known ? h("span", { class: "muted small" }, ` #${pipeline.id}`) : null),
      h("div", { class: "board" }, anyStage(pipeline, data), pipeline.stages.map((stage) => column(stage, pipeline, data))))),
    data.agents.length ? null : h("p", { class: "muted" }, "No agents yet: ", link("#/agents", "create one"), " and give it rules."));
}
