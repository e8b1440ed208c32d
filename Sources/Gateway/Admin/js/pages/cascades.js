// Cascades: rules whose writes to Kommo keep setting each other off on a lead. rules-service stops a chain
// of our own writes once it is deeper than its bound; the rules page lists the cycles it stopped, so the
// user can change one of the rules, and a decision on an echo shows the chain that led to it.

import { h, replace, badge, table, time, link, notice, errorView } from "../dom.js";
import { api, url } from "../api.js";

/** The cycles of the agent's rules that the bound stopped: which rules, how often, when last. */
export function cascadesCard(agentID) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  api.get(url`/api/v1/agents/${agentID}/cascades`, { limit: 50 })
    .then((answer) => replace(body, cyclesView(agentID, answer.data.items || [])))
    .catch((error) => replace(body, errorView(error)));
  return h("section", { class: "card cascades" },
    h("h2", {}, "Cycles stopped"),
    h("p", { class: "muted" }, "Rules that undo each other's changes on a lead (A moves it to one stage, B moves it back) would write to Kommo without end. Past the chain limit no rule fires on the next echo; change one of the rules below."),
    body);
}

function cyclesView(agentID, cycles) {
  if (!cycles.length) return notice("info", "No cycle of rules has been stopped.");
  return table([
    { title: "Rules in the cycle", cell: (c) => h("span", {}, ruleLinks(agentID, c.rules || [])) },
    { title: "Stopped", cell: (c) => h("span", {}, badge("blocked"), ` ${c.stops} time${c.stops === 1 ? "" : "s"}`) },
    { title: "Last", cell: (c) => time(c.last_stopped_at) },
    { title: "Chain", cell: (c) => c.last_cascade ? `${c.last_cascade.depth} writes (limit ${c.last_cascade.max_depth})` : "" },
    { title: "Lead", cell: (c) => c.last_lead_id ? link(`#/leads/${encodeURIComponent(c.last_lead_id)}`, c.last_lead_id) : "" },
    { title: "Event", cell: (c) => c.last_event_id ? link(`#/webhooks/events/${encodeURIComponent(c.last_event_id)}`, "explanation") : "" },
  ], cycles);
}

/** `Rule A → Rule B`, each a link to the rule when it still exists. */
function ruleLinks(agentID, rules) {
  return rules.flatMap((rule, index) => [
    index ? " → " : null,
    rule.agent_id
      ? link(`#/agents/${encodeURIComponent(rule.agent_id)}/rules/${encodeURIComponent(rule.id)}`, rule.name || rule.id)
      : h("span", { class: "muted" }, `${rule.name || rule.id} (deleted)`),
  ]);
}

/** A decision's chain of our own writes: where it started and each rule that wrote. */
export function cascadeView(cascade) {
  if (!cascade) return null;
  const steps = (cascade.steps || []).map((s) => `${s.rule_name || s.rule_id || "a write no rule planned"} (${s.rule_id || "—"})`);
  return h("div", { class: "cascade" },
    h("h4", {}, "Echo of our writes ", cascade.stopped ? badge("blocked") : null),
    h("p", {},
      `Chain of ${cascade.depth} write${cascade.depth === 1 ? "" : "s"} of ours (limit ${cascade.max_depth})`,
      cascade.origin_event_id ? [", started by event ", link(`#/webhooks/events/${encodeURIComponent(cascade.origin_event_id)}`, cascade.origin_event_id)] : null,
      steps.length ? `: ${steps.join(" → ")}` : "",
      cascade.stopped ? ". No rule fired on it." : "."));
}

/** One line for a timeline decision on an echo. */
export function cascadeSummary(cascade) {
  if (!cascade) return "";
  return ` · echo, chain depth ${cascade.depth}${cascade.stopped ? ` — stopped at limit ${cascade.max_depth}` : ""}`;
}
