// Alerts about the tenant's Kommo account, from the integrations document's `alerts`: a paused account
// (blocked by Kommo after repeated 429s, or unpaid) with its reason, since when and the next probe.

import { h, notice } from "../dom.js";

/** A card of the account's alerts; nothing when there are none. */
export function kommoAlerts(doc) {
  const alerts = (doc && doc.alerts) || [];
  if (!alerts.length) return "";
  return h("section", { class: "card" }, h("h2", {}, "Kommo account"),
    ...alerts.map((alert) => notice("error",
      h("strong", {}, alert.http_status === 402 ? "Kommo account unpaid" : "Kommo blocked the integration"),
      ` (${alert.http_status}) since ${new Date(alert.since).toLocaleString()}: ${alert.reason}. `,
      "No request is sent to the account and its due actions wait; they run as soon as it answers again. ",
      `Next check ${new Date(alert.next_probe_at).toLocaleString()} (${alert.probes} so far).`)));
}
