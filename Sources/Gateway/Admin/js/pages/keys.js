// The tenant's API keys: create (the key is shown once), list, revoke.

import { h, replace, badge, table, time, button, field, input, notice, showErrors, clearErrors, errorView, copyButton } from "../dom.js";
import { api, url, session } from "../api.js";

export async function keysPage(page) {
  const list = h("div", {});
  const created = h("div", {});
  const name = input({ placeholder: "what uses it, e.g. reporting" });
  const form = h("form", { class: "card inline" }, h("h2", {}, "New API key"), h("div", { class: "form-errors" }), field("Name", name, { name: "name" }), h("button", { type: "submit", class: "primary" }, "Create key"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    try {
      const answer = await api.post(url`/api/v1/api-keys`, { name: name.value.trim() || undefined });
      name.value = "";
      replace(created, notice("ok", h("strong", {}, "Copy this key now: it is not shown again."),
        h("div", { class: "secret" }, h("code", {}, answer.data.key), " ", copyButton(answer.data.key))));
      load();
    } catch (error) { showErrors(form, error); }
  });
  async function load() {
    try {
      const answer = await api.get(url`/api/v1/api-keys`);
      replace(list, table([
        { title: "Name", cell: (k) => k.name },
        { title: "Prefix", cell: (k) => h("code", {}, `${k.prefix}…`) },
        { title: "Created", cell: (k) => time(k.created_at) },
        { title: "Last used", cell: (k) => time(k.last_used_at) },
        { title: "State", cell: (k) => k.revoked_at ? h("span", {}, badge("revoked"), " ", time(k.revoked_at)) : badge("active") },
        { title: "", cell: (k) => k.revoked_at ? "" : button("Revoke", async () => {
          const mine = session.key.startsWith(k.prefix);
          if (!confirm(mine ? "This is the key this page is using: you will be signed out. Revoke it?" : `Revoke the key "${k.name}"? Whatever uses it stops working at once.`)) return;
          try { await api.delete(url`/api/v1/api-keys/${k.id}`); load(); } catch (error) { list.prepend(errorView(error)); }
        }, { kind: "danger small" }) },
      ], answer.data.items || []));
    } catch (error) { replace(list, errorView(error)); }
  }
  load();
  page.append(h("h1", {}, "API keys"), h("p", { class: "muted" }, "Keys are stored hashed; only their prefix is shown."), form, created, h("section", { class: "card" }, h("h2", {}, "Keys"), list));
}
