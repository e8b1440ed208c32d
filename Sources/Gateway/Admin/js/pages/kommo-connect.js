// The Kommo account connected through OAuth: connect (Kommo's consent page), the account, when its
// tokens expire, the catalog's counts and time, a failed renewal as an alert with "reconnect", and
// disconnect. The outcome of Kommo's redirect back arrives in the page's query (`?kommo=connected`).

import { h, replace, notice, errorView, time, button } from "../dom.js";
import { api, url } from "../api.js";

const reasons = {
  state_invalid: "the link was not one this system issued",
  state_expired: "the link expired (15 minutes): start again",
  state_used: "the link was already used",
  denied: "access was declined in Kommo",
  missing_code: "Kommo sent no code",
  bad_referer: "Kommo named an account host that is not Kommo's",
  not_configured: "the Kommo integration is not configured on this server",
  exchange_failed: "Kommo refused the code or could not be reached",
};

/** The card; `query` is the page's query, `connection` the `kommo_connection` of GET /integrations. */
export function kommoConnectCard(query, connection, reload) {
  const card = h("section", { class: "card" });
  const outcome = query && query.get("kommo");
  const banner = outcome === "connected" ? notice("ok", "Kommo account connected.")
    : outcome === "error" ? notice("error", `Kommo was not connected: ${reasons[query.get("reason")] || query.get("reason") || "unknown reason"}.`) : null;
  const slot = h("div", {});
  const connect = async () => {
    try {
      const answer = (await api.post(url`/api/v1/integrations/kommo/install`, { mode: "popup" })).data;
      location.assign(answer.authorize_url);
    } catch (error) { replace(slot, errorView(error)); }
  };
  if (!connection) {
    replace(card, h("h2", {}, "Kommo account"), banner,
      h("p", { class: "muted" }, "Connect through Kommo: you confirm access in Kommo, and tokens, webhook and the account's names are set up here."),
      button("Connect Kommo", connect, { kind: "primary" }), slot);
    return card;
  }
  const account = connection.account || {};
  const catalog = connection.catalog || {};
  const counts = catalog.counts || {};
  const renewal = connection.alert;
  replace(card, h("h2", {}, "Kommo account"), banner,
    renewal ? notice("error", "Token renewal failed ", time(renewal.at), `: ${renewal.reason}. `, button("Reconnect", connect, { kind: "primary" })) : null,
    h("p", {}, `${account.name || "Account"} — ${account.subdomain} (id ${account.id})`),
    h("p", { class: "muted" }, "Connected ", time(connection.connected_at), "; access token valid until ", time(connection.access_token_expires_at), ". ",
      connection.webhook_registered ? "Webhook registered at Kommo." : "Webhook not registered: paste the URL below into Kommo."),
    h("p", {}, `Catalog: ${counts.pipelines ?? 0} pipelines, ${counts.stages ?? 0} stages, ${counts.users ?? 0} users, `
      + `${counts.custom_fields ?? 0} custom fields, ${counts.tags ?? 0} tags, ${counts.task_types ?? 0} task types`,
      h("span", { class: "muted" }, catalog.refreshed_at ? " — read " : " — not read yet", catalog.refreshed_at ? time(catalog.refreshed_at) : null)),
    catalog.error ? notice("error", `Last catalog read failed: ${catalog.error}`) : null,
    h("div", { class: "inline" },
      button("Refresh the catalog", async () => {
        replace(slot, h("p", { class: "muted" }, "Reading Kommo…"));
        try { await api.post(url`/api/v1/kommo/catalog/refresh`); reload(); } catch (error) { replace(slot, errorView(error)); }
      }),
      button("Disconnect", async () => {
        if (!confirm("Disconnect the Kommo account? Its webhook is removed at Kommo and its tokens forgotten; Kommo actions are skipped until you connect again.")) return;
        try {
          const answer = (await api.delete(url`/api/v1/integrations/kommo`)).data;
          if (answer.detail) window.alert(answer.detail);
          reload();
        } catch (error) { replace(slot, errorView(error)); }
      }, { kind: "danger" })),
    slot);
  return card;
}
