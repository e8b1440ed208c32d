// Actions left in doubt: a Salesbot run that answered 5xx or timed out may already have messaged the
// client, so it is not sent again by itself. An operator sends it again or dismisses it.

import { h, button, notice, replace, errorView } from "../dom.js";
import { api, url } from "../api.js";

/** Retry and Dismiss buttons for an action-log entry that is `in_doubt`; nothing for any other. */
export function inDoubtButtons(entry, { onDone } = {}) {
  if (entry.outcome !== "in_doubt" || !entry.action_id) return "";
  const outcome = h("span", {});
  const send = {
    retry: () => api.post(url`/api/v1/actions/${entry.action_id}/retry`),
    dismiss: () => api.post(url`/api/v1/actions/${entry.action_id}/dismiss`),
  };
  const run = (verb, question, done) => async () => {
    if (!confirm(question)) return;
    try {
      await send[verb]();
      replace(outcome, notice("ok", done));
      if (onDone) onDone();
    } catch (error) { replace(outcome, errorView(error)); }
  };
  return h("span", { class: "actions" },
    button("Send again", run("retry", "The bot may already have written to the client. Send it again?", "Sent again."),
      { kind: "primary", title: "Run it again now, under the same key" }),
    " ",
    button("Dismiss", run("dismiss", "Leave it unsent?", "Dismissed: it is not sent again."), { title: "Do not send it again" }),
    outcome);
}
