// The agents' pause on one lead: a manager's message to the lead holds the messages of agents that
// pause on a human reply (logged as "paused (a manager replied)"); this resumes them by hand.

import { h, button, notice, replace, errorView } from "../dom.js";
import { api, url } from "../api.js";

/** A card with the "Resume the agent" button for `leadId`. */
export function resumeCard(leadId) {
  const outcome = h("div", {});
  return h("section", { class: "card" }, h("h2", {}, "Agent"),
    h("p", { class: "muted" },
      "When a manager writes to this lead, agents that pause on a human reply hold their messages until the quiet time is over. ",
      "Resume them now: the held messages go out."),
    button("Resume the agent for this lead", async () => {
      try {
        const result = (await api.post(url`/api/v1/leads/${leadId}/agent/resume`)).data;
        replace(outcome, notice("ok", result.released
          ? `Resumed; ${result.released} held message${result.released === 1 ? "" : "s"} will go out now.`
          : "Resumed; no message was waiting."));
      } catch (error) { replace(outcome, errorView(error)); }
    }, { kind: "primary" }),
    outcome);
}
