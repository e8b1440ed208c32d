// Plain words for the codes the services answer with, shown with the code beside them
// ("waits for another trigger · trigger_mismatch"), so a reader needs no glossary and can still search
// for the code.

import { h } from "./dom.js";

/** Why a rule fired or not (the rule engine's outcomes). */
const ruleOutcomes = {
  fired: ["fired", "good"],
  trigger_mismatch: ["waits for another trigger", "plain"],
  condition_false: ["a condition is not met", "wait"],
  cooldown: ["cooling down for this lead", "wait"],
  max_fires: ["fired as often as allowed", "wait"],
  disabled: ["switched off", "wait"],
  stopped_by_priority: ["stopped by a higher rule", "wait"],
  loop_guard: ["stopped: echo of our own write", "wait"],
  agent_paused: ["the agent is paused", "wait"],
  agent_scope: ["outside the agent's pipelines", "plain"],
  timer_not_due: ["timer came back early", "plain"],
  timer_cancelled: ["timer no longer applies", "plain"],
  budget_exceeded: ["too much work: stopped", "bad"],
};

/** What became of an action attempt (the executors' outcomes). */
const actionOutcomes = {
  succeeded: ["done", "good"],
  failed_permanent: ["failed, will not retry", "bad"],
  failed_retryable: ["failed, will retry", "bad"],
  skipped: ["skipped on purpose", "wait"],
  held: ["held: a manager replied", "wait"],
};

/** The plain words for a code (`kind` "rule" or "action"), or the code itself when it has none. */
export function outcomeWords(code, kind = "rule") {
  const table = kind === "action" ? actionOutcomes : ruleOutcomes;
  const entry = table[String(code || "")];
  return entry ? entry[0] : String(code || "—");
}

/** A coloured label: the plain words, then the code in monospace ("waits for another trigger · trigger_mismatch"). */
export function outcomeBadge(code, kind = "rule") {
  const table = kind === "action" ? actionOutcomes : ruleOutcomes;
  const entry = table[String(code || "")];
  if (!entry) return h("span", { class: "badge plain" }, String(code || "—"));
  const [words, tone] = entry;
  if (words === code) return h("span", { class: `badge ${tone}` }, words);
  return h("span", { class: `badge ${tone}`, title: code }, words, h("span", { class: "code-beside" }, ` · ${code}`));
}
