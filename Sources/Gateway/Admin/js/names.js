// Names for the ids other answers carry: a sequence's name and its agent, read once from the agents'
// sequence lists and kept for half a minute, so a timeline says "Follow-up (3 steps)" rather than seq_…;
// and the Kommo account's pipelines, stages, users, custom fields and task types by id from its catalog
// (the catalog the gateway serves, read once a minute), so an explanation says "Qualified (61234502)" where it said 61234502.
// Until the catalog has arrived, and for an id it does not know or without a connected account, the
// bare id stays.

import { h, link } from "./dom.js";
import { api, url } from "./api.js";
import { loadCatalog } from "./builders/catalog.js";

let cache = null;
let cachedAt = 0;

/** Every sequence of the tenant by id: `{name, agentID}`. */
export function sequenceNames() {
  if (cache && Date.now() - cachedAt < 30_000) return cache;
  cachedAt = Date.now();
  cache = (async () => {
    const names = new Map();
    const agents = await api.get(url`/api/v1/agents`, { limit: 100 });
    await Promise.all((agents.data.items || []).map(async (agent) => {
      const list = await api.get(url`/api/v1/agents/${agent.id}/sequences`, { limit: 100 });
      for (const sequence of list.data.items || []) names.set(sequence.id, { name: sequence.name, agentID: agent.id });
    }));
    return names;
  })().catch((error) => { cache = null; throw error; });
  return cache;
}

/** A link to the sequence, by name once known (its id until then, or when it is gone). */
export function sequenceLink(sequenceID) {
  const slot = h("span", {}, h("code", {}, sequenceID || ""));
  if (!sequenceID) return slot;
  sequenceNames().then((names) => {
    const found = names.get(sequenceID);
    if (!found) return;
    slot.replaceChildren(link(`#/agents/${encodeURIComponent(found.agentID)}/sequences/${encodeURIComponent(sequenceID)}`, found.name),
      " ", h("code", { class: "muted small" }, sequenceID));
  }).catch(() => { /* the id stays */ });
  return slot;
}

// MARK: - Kommo ids

/** Look-ups by kind over the loaded catalog: `pipeline`, `stage`, `user`, `field`, `task_type` → id → name. */
function kommoLookups(catalog) {
  const maps = { pipeline: new Map(), stage: new Map(), user: new Map(), field: new Map(), task_type: new Map() };
  for (const p of catalog.pipelines) {
    maps.pipeline.set(String(p.id), { name: p.name });
    for (const s of p.stages) if (!maps.stage.has(String(s.id))) maps.stage.set(String(s.id), { name: s.name, pipeline: p.name });
  }
  for (const u of catalog.users) maps.user.set(String(u.id), { name: u.name });
  for (const [entity, list] of Object.entries(catalog.custom_fields)) for (const f of list) maps.field.set(String(f.id), { name: f.name, entity });
  for (const t of catalog.task_types) maps.task_type.set(String(t.id), { name: t.name });
  return maps;
}

let lookups = null;
/** The catalog's look-ups, or `null` when no account is connected (or the catalog cannot be read). */
function kommoNames() {
  if (!lookups) {
    lookups = loadCatalog().then((catalog) => (catalog.connected ? kommoLookups(catalog) : null)).catch(() => null);
    // The catalog is read again a minute later (loadCatalog's own cache), so a rename shows up.
    setTimeout(() => { lookups = null; }, 60_000);
  }
  return lookups;
}

/** "Qualified (61234502)": the name and the id, titled with the stage's pipeline or the field's entity. */
function named(kind, id, found) {
  const title = kind === "stage" && found.pipeline ? `stage of pipeline ${found.pipeline}` : kind === "field" ? `${found.entity} custom field` : kind.replace("_", " ");
  return h("span", { class: "kommo-name", title }, found.name, " ", h("span", { class: "muted" }, `(${id})`));
}

/**
 * A Kommo id as "Name (id)" once the catalog names it; the bare id until then, or when it is unknown.
 * `kind`: `pipeline`, `stage`, `user`, `field` (custom field) or `task_type`.
 */
export function kommoName(kind, id) {
  const slot = h("span", {}, String(id ?? ""));
  if (id === undefined || id === null || id === "") return slot;
  kommoNames().then((maps) => {
    const found = maps && maps[kind] && maps[kind].get(String(id));
    if (found) slot.replaceChildren(named(kind, id, found));
  });
  return slot;
}

// A word naming what the ids after it are, as explanations and action summaries write them:
// "the lead is in stage 61234501 of pipeline 7100001; expected stage 61234502, 61234503",
// "status 61234502 in pipeline 7100001", "responsible 8812001", "fields 512301, 512302", a task's "type 2".
const idWords = /\b(stages?|status|pipelines?|responsible(?: user)?|users?|managers?|fields?|(?:task )?type)(\s+)(\d+(?:(?:,\s*|\s+or\s+)\d+)*)/gi;
// A custom field referenced by id, as conditions and explanations write it: "cf.512301 is 3000", "contact.cf.512401".
const fieldReference = /\b((?:lead\.|contact\.|company\.)?cf\.)(\d+)\b/gi;
const kindOfWord = (word) => {
  const w = word.toLowerCase();
  if (w.startsWith("stage") || w === "status") return "stage";
  if (w.startsWith("pipeline")) return "pipeline";
  if (w.startsWith("field")) return "field";
  if (w.endsWith("type")) return "task_type";
  return "user";
};

/**
 * `text` with the Kommo ids it names (after "stage", "pipeline", "user", "responsible", "field", …) as
 * "Name (id)" once the catalog knows them; the text as it is until then and for unknown ids.
 */
export function withKommoNames(text) {
  const value = String(text ?? "");
  const slot = h("span", {}, value);
  if (!/\d/.test(value)) return slot;
  kommoNames().then((maps) => {
    if (!maps) return;
    const parts = [];
    let last = 0;
    let changed = false;
    const matches = [...value.matchAll(idWords), ...value.matchAll(fieldReference)].sort((a, b) => a.index - b.index);
    for (const match of matches) {
      if (match.index < last) continue;
      const [whole, word, space, list] = match;
      if (match.length === 3) { // cf.<id>: the field's name after the prefix, "cf.Budget (512301)"
        const found = maps.field.get(space);
        parts.push(value.slice(last, match.index), word);
        if (found) { parts.push(named("field", space, found)); changed = true; } else parts.push(space);
        last = match.index + whole.length;
        continue;
      }
      const kind = kindOfWord(word);
      parts.push(value.slice(last, match.index), word, space);
      for (const piece of list.split(/(,\s*|\s+or\s+)/)) {
        const found = /^\d+$/.test(piece) ? maps[kind].get(piece) : undefined;
        if (found) { parts.push(named(kind, piece, found)); changed = true; } else parts.push(piece);
      }
      last = match.index + whole.length;
    }
    parts.push(value.slice(last));
    if (changed) slot.replaceChildren(...parts.filter((p) => p !== ""));
  });
  return slot;
}

/**
 * The ids an action's parameters name (stage, pipeline, responsible user, task type, and the custom fields
 * it sets: `"field": "cf.512301"` or keys such as `"cf.512301"`, also under `fields`), each as "Name (id)".
 */
export function parameterNames(parameters) {
  const p = parameters || {};
  const customID = (reference) => { const m = /^(?:(?:lead|contact|company)\.)?cf\.(\d+)$/i.exec(String(reference ?? "").trim()); return m ? m[1] : undefined; };
  const fieldIDs = [p.field, ...Object.keys(p), ...(p.fields && typeof p.fields === "object" && !Array.isArray(p.fields) ? Object.keys(p.fields) : [])]
    .map(customID).filter((id, i, all) => id !== undefined && all.indexOf(id) === i);
  const rows = [
    ["Pipeline", "pipeline", p.pipeline_id], ["Stage", "stage", p.stage_id ?? p.status_id],
    ["Responsible user", "user", p.responsible_user_id ?? p.user_id], ["Task type", "task_type", p.task_type ?? p.task_type_id],
    ...fieldIDs.map((id) => ["Field", "field", id]),
  ].filter(([, , id]) => id !== undefined && id !== null && id !== "");
  if (!rows.length) return null;
  return h("p", { class: "small" }, rows.flatMap(([title, kind, id], i) => [i ? " · " : "", `${title}: `, kommoName(kind, id)]));
}

/** A rule's or sequence's trigger for a list: its type, and the stage and pipeline it names by name. */
export function triggerView(trigger) {
  const t = trigger || {};
  const parts = [h("code", {}, t.type || "")];
  if (t.stage_id !== undefined && t.stage_id !== null) parts.push(" → ", kommoName("stage", t.stage_id));
  if (t.pipeline_id !== undefined && t.pipeline_id !== null) parts.push(" in ", kommoName("pipeline", t.pipeline_id));
  return h("span", {}, parts);
}
