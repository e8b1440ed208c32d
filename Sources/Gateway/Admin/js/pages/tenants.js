// The operator's page (admin token): tenants, creating one with its first key, suspend and resume.

import { h, replace, badge, table, time, button, field, input, notice, showErrors, clearErrors, errorView, copyButton } from "../dom.js";
import { api, url, pagedList, session } from "../api.js";

export async function tenantsPage(page) {
  const list = h("div", {});
  const created = h("div", {});
  const name = input({ placeholder: "Acme Apartments" });
  const form = h("form", { class: "card inline" }, h("h2", {}, "New tenant"), h("div", { class: "form-errors" }), field("Name", name, { name: "name" }), h("button", { type: "submit", class: "primary" }, "Create tenant"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    try {
      const answer = await api.post(url`/api/v1/tenants`, { name: name.value }, { admin: true });
      name.value = "";
      const t = answer.data;
      replace(created, notice("ok", h("strong", {}, `Created ${t.tenant.name} (${t.tenant.id}). Copy the key now: it is not shown again.`),
        h("div", { class: "secret" }, "API key ", h("code", {}, t.api_key), " ", copyButton(t.api_key),
          " ", button("Use this key in this tab", () => { session.key = t.api_key; location.hash = "#/"; }, { kind: "small" })),
        h("div", { class: "secret" }, "Kommo webhook URL ", h("code", {}, t.webhook_url), " ", copyButton(t.webhook_url))));
      load();
    } catch (error) { showErrors(form, error); }
  });
  const load = () => replace(list, pagedList((cursor) => api.get(url`/api/v1/tenants`, { cursor, limit: 50 }, { admin: true }).then((r) => r.data), (items) => table([
    { title: "Name", cell: (t) => t.name },
    { title: "Id", cell: (t) => h("code", {}, t.id) },
    { title: "Status", cell: (t) => badge(t.status) },
    { title: "Created", cell: (t) => time(t.created_at) },
    { title: "", cell: (t) => {
      const slot = h("span", {});
      const act = async (verb) => {
        if (verb === "suspend" && !confirm(`Suspend ${t.name}? Its API keys stop working at once.`)) return;
        try {
          if (verb === "suspend") await api.post(url`/api/v1/tenants/${t.id}/suspend`, {}, { admin: true });
          else await api.post(url`/api/v1/tenants/${t.id}/resume`, {}, { admin: true });
          load();
        } catch (error) { slot.append(errorView(error)); }
      };
      slot.append(t.status === "suspended" ? button("Resume", () => act("resume"), { kind: "small" }) : button("Suspend", () => act("suspend"), { kind: "danger small" }));
      return slot;
    } },
  ], items, "No tenants.")));
  load();
  page.append(h("h1", {}, "Tenants"), h("p", { class: "muted" }, "Operator page: uses the admin token, kept in this tab only."), form, created, h("section", { class: "card" }, h("h2", {}, "All tenants"), list));
}
