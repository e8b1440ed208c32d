// Names for the ids other answers carry: a sequence's name and its agent, read once from the agents'
// sequence lists and kept for half a minute, so a timeline says "Follow-up (3 steps)" rather than seq_….

import { h, link } from "./dom.js";
import { api, url } from "./api.js";

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
