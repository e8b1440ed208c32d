// Integrations: Kommo credentials, how messages go out, the outgoing-webhook secret and the AI provider.
// Secrets are write-only: the page shows whether each is set and sends one only when it is typed in.
// Also the webhook URL to paste into Kommo, with rotation.

import { h, replace, badge, field, input, select, notice, showErrors, clearErrors, errorView, copyButton, jsonBlock, details, fieldError } from "../dom.js";
import { api, url } from "../api.js";
import { kommoAlerts } from "./kommo-alerts.js";
import { kommoConnectCard } from "./kommo-connect.js";

export async function integrationsPage(page, params, query) {
  const account = h("div", {});
  const webhook = h("section", { class: "card" }, h("h2", {}, "Kommo webhook URL"), h("p", { class: "muted" }, "Loading…"));
  const settings = h("div", {});
  page.append(h("h1", {}, "Integrations"), account, webhook, settings);
  drawWebhook(webhook);
  const alerts = h("div", {});
  page.insertBefore(alerts, webhook);
  const load = async (outcome) => {
    const answer = await api.get(url`/api/v1/integrations`);
    replace(alerts, kommoAlerts(answer.data));
    replace(account, kommoConnectCard(outcome, answer.data.kommo_connection, () => load(null)));
    replace(settings, integrationsForm(answer.data, answer.etag, settings));
  };
  await load(query);
}

async function drawWebhook(card) {
  const body = h("div", {});
  replace(card, h("h2", {}, "Kommo webhook URL"), h("p", { class: "muted" }, "Paste it in Kommo under Settings → Integrations → Webhooks. It holds a secret: treat it like a password."), body);
  const show = (source) => replace(body,
    h("div", { class: "secret" }, h("code", {}, source.url), " ", copyButton(source.url)),
    source.account_id ? h("p", {}, `Kommo account ${source.account_id}${source.subdomain ? ` (${source.subdomain})` : ""}`) : h("p", { class: "muted" }, "No webhook received yet: the account is learnt from the first one."),
    source.previous_secret_expires_at ? notice("info", `The previous URL keeps working until ${new Date(source.previous_secret_expires_at).toLocaleString()}.`) : null,
    rotateForm(show));
  try {
    show((await api.get(url`/api/v1/integrations/kommo/webhook`)).data);
  } catch (error) { replace(body, errorView(error)); }
}

function rotateForm(show) {
  const grace = input({ type: "number", min: 0, value: 86400 });
  const form = h("form", { class: "inline" }, h("div", { class: "form-errors" }),
    field("Old URL keeps working for (seconds)", grace, { name: "grace_seconds" }), h("button", { type: "submit", class: "danger" }, "Rotate the URL"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!confirm("Make a new webhook URL? Kommo must be given the new one before the grace period ends.")) return;
    clearErrors(form);
    try {
      show((await api.post(url`/api/v1/integrations/kommo/webhook/rotate`, { grace_seconds: Number(grace.value || 0) })).data);
    } catch (error) { showErrors(form, error); }
  });
  return form;
}

/** Reads `a.b.c` of a document. */
function at(doc, path) {
  return path.split(".").reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), doc);
}

function integrationsForm(doc, etag, slot) {
  const text = (path, placeholder = "") => input({ value: at(doc, path) ?? "", placeholder });
  const secret = (path) => input({ type: "password", autocomplete: "new-password", placeholder: at(doc, `${path}_set`) ? "set — type to replace" : "not set" });
  const state = (path) => badge(at(doc, `${path}_set`) ? "set" : "not set");
  const f = {
    "kommo.base_url": text("kommo.base_url", "https://acme.kommo.com"),
    "kommo.subdomain": text("kommo.subdomain", "acme"),
    "kommo.access_token": secret("kommo.access_token"),
    "kommo.rate_limit_per_second": text("kommo.rate_limit_per_second", "7"),
    "messages.mode": select(["salesbot_field", "chats_api", "none"], at(doc, "messages.mode") || "none"),
    "messages.field_id": text("messages.field_id"),
    "messages.bot_id": text("messages.bot_id"),
    "messages.chats_api.scope_id": text("messages.chats_api.scope_id"),
    "messages.chats_api.channel_secret": secret("messages.chats_api.channel_secret"),
    "messages.chats_api.base_url": text("messages.chats_api.base_url", "https://amojo.kommo.com"),
    "webhooks.secret": secret("webhooks.secret"),
    "ai.provider": select(["template", "openai"], at(doc, "ai.provider") || "template"),
    "ai.base_url": text("ai.base_url", "https://api.openai.com"),
    "ai.api_key": secret("ai.api_key"),
    "ai.model": text("ai.model", "gpt-4o-mini"),
  };
  // What the form showed at first: a member is sent only when its field was changed.
  const initial = Object.fromEntries(Object.entries(f).map(([path, element]) => [path, element.value.trim()]));
  const numbers = new Set(["kommo.rate_limit_per_second", "messages.field_id", "messages.bot_id"]);
  const secrets = new Set(["kommo.access_token", "messages.chats_api.channel_secret", "webhooks.secret", "ai.api_key"]);
  const labelled = (label, path, hint) => field(label, f[path], { name: path, hint });
  const generated = h("div", {});
  const probe = h("div", {});
  const form = h("form", { class: "card" },
    h("div", { class: "form-errors" }),
    h("h2", {}, "Kommo API"),
    h("p", { class: "muted" }, "Without credentials every Kommo action is recorded as skipped, so everything else still runs. Access token: ", state("kommo.access_token")),
    h("div", { class: "grid" },
      labelled("Account URL", "kommo.base_url", "Or the subdomain; not both."),
      labelled("Subdomain", "kommo.subdomain"),
      labelled("Long-lived access token", "kommo.access_token", "Write-only."),
      labelled("Requests per second", "kommo.rate_limit_per_second", "Kommo allows 7.")),
    h("button", { type: "button", class: "small", onclick: async () => {
      replace(probe, h("p", { class: "muted" }, "Asking Kommo…"));
      try {
        const result = (await api.post(url`/api/v1/integrations/kommo/test`)).data;
        replace(probe, result.ok
          ? notice("ok", `Connected to ${result.account.name || "the account"} (${result.account.subdomain || result.base_url}, id ${result.account.id}) in ${result.latency_ms} ms.`)
          : notice("error", `Kommo did not give the account${result.status ? ` (HTTP ${result.status})` : ""}: ${result.detail || "no detail"}`));
      } catch (error) { replace(probe, errorView(error)); }
    } }, "Test connection (saved settings)"),
    probe,
    h("h2", {}, "Messages to leads"),
    h("div", { class: "grid" },
      labelled("Mode", "messages.mode"),
      labelled("Salesbot field id", "messages.field_id"),
      labelled("Salesbot id", "messages.bot_id"),
      labelled("Chats API scope id", "messages.chats_api.scope_id"),
      labelled("Chats API channel secret", "messages.chats_api.channel_secret", "Write-only."),
      labelled("Chats API URL", "messages.chats_api.base_url")),
    h("h2", {}, "Outgoing webhooks"),
    h("p", { class: "muted" }, "Rules' webhook actions are signed (Standard Webhooks) with this secret: ", state("webhooks.secret")),
    h("div", { class: "grid" }, labelled("Signing secret", "webhooks.secret", "Write-only.")),
    h("button", { type: "button", class: "small danger", onclick: async () => {
      if (!confirm("Sign outgoing webhooks with a new secret from now on? Receivers need the new one.")) return;
      try {
        const value = (await api.post(url`/api/v1/integrations/webhooks/rotate`)).data.secret;
        replace(generated, notice("info", "New secret, in use now and shown only this once: ", h("code", {}, value), " ", copyButton(value)));
      } catch (error) { replace(generated, errorView(error)); }
    } }, "Rotate the secret"),
    generated,
    h("h2", {}, "AI replies"),
    h("div", { class: "grid" },
      labelled("Provider", "ai.provider", "template: the agent's scripts, offline; openai: any OpenAI-compatible endpoint."),
      labelled("Endpoint", "ai.base_url"),
      labelled("API key", "ai.api_key", "Write-only."),
      labelled("Model", "ai.model")),
    h("button", { type: "submit", class: "primary" }, "Save"),
    details("Stored settings (secrets hidden)", jsonBlock(doc)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    try {
      // A merge patch: only what changed; a cleared field becomes null (removed).
      const patch = {};
      for (const [path, element] of Object.entries(f)) {
        const raw = element.value.trim();
        const before = at(doc, path);
        let value;
        if (secrets.has(path)) { if (!raw) continue; value = raw; }
        else if (raw === initial[path]) continue;
        else if (!raw) { if (before === undefined || before === null) continue; value = null; }
        else if (numbers.has(path)) { if (!/^\d+(\.\d+)?$/.test(raw)) throw fieldError(path, "must be a number"); value = Number(raw); }
        else value = raw;
        const keys = path.split(".");
        let node = patch;
        for (const key of keys.slice(0, -1)) node = node[key] = node[key] || {};
        node[keys[keys.length - 1]] = value;
      }
      if (!Object.keys(patch).length) { replace(form.querySelector(".form-errors"), notice("info", "Nothing changed.")); return; }
      // A tenant that never saved settings has version 0, which If-Match cannot name.
      const answer = await api.patch(url`/api/v1/integrations`, patch, { ifMatch: etag === '"0"' ? undefined : etag });
      replace(slot, integrationsForm(answer.data, answer.etag, slot));
      replace(slot.querySelector(".form-errors"), notice("ok", "Saved."));
    } catch (error) { showErrors(form, error); }
  });
  return form;
}
