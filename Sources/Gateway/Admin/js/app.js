// The admin UI: a hash router over the pages, the navigation, and the sign-in with an API key.

import { h, replace, notice, field, input, errorView } from "./dom.js";
import { api, url, session, onUnauthorized } from "./api.js";
import { overviewPage } from "./pages/overview.js";
import { dashboardPage } from "./pages/dashboard.js";
import { agentsPage, agentPage } from "./pages/agents.js";
import { rulesPage, rulePage } from "./pages/rules.js";
import { sequencesPage, sequencePage } from "./pages/sequences.js";
import { scriptsPage, scriptPage } from "./pages/scripts.js";
import { knowledgePage, knowledgeDocumentPage } from "./pages/knowledge.js";
import { eventsPage, eventPage, deliveriesPage } from "./pages/webhooks.js";
import { leadsPage } from "./pages/leads.js";
import { integrationsPage } from "./pages/integrations.js";
import { keysPage } from "./pages/keys.js";
import { tenantsPage } from "./pages/tenants.js";
import { boardPage } from "./pages/board.js";
import { billingPage } from "./pages/billing.js";
import { actionsPage } from "./pages/actions.js";

/** `#/agents/:id/rules/:ruleId` patterns → pages. `admin` pages use the admin token, not the API key. */
const routes = [
  ["/", overviewPage],
  ["/dashboard", dashboardPage],
  ["/agents", agentsPage],
  ["/agents/:id", agentPage],
  ["/agents/:id/rules", rulesPage],
  ["/agents/:id/rules/:ruleId", rulePage],
  ["/agents/:id/sequences", sequencesPage],
  ["/agents/:id/sequences/:sequenceId", sequencePage],
  ["/agents/:id/scripts", scriptsPage],
  ["/agents/:id/scripts/:scriptId", scriptPage],
  ["/agents/:id/knowledge", knowledgePage],
  ["/agents/:id/knowledge/:docId", knowledgeDocumentPage],
  ["/board", boardPage],
  ["/webhooks", eventsPage],
  ["/webhooks/events/:eventId", eventPage],
  ["/webhooks/deliveries", deliveriesPage],
  ["/leads", leadsPage],
  ["/leads/:leadId", leadsPage],
  ["/integrations", integrationsPage],
  ["/keys", keysPage],
  ["/billing", billingPage],
  ["/actions", actionsPage],
  ["/tenants", tenantsPage, { admin: true }],
];

const nav = [
  ["#/", "Overview"],
  ["#/dashboard", "Dashboard"],
  ["#/agents", "Agents"],
  ["#/board", "Pipeline board"],
  ["#/webhooks", "Webhook history"],
  ["#/webhooks/deliveries", "Deliveries"],
  ["#/leads", "Lead timeline"],
  ["#/integrations", "Integrations"],
  ["#/keys", "API keys"],
  ["#/billing", "Billing"],
  ["#/tenants", "Tenants (admin)"],
];

function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const [pattern, page, options] of routes) {
    const expected = pattern.split("/").filter(Boolean);
    if (expected.length !== parts.length) continue;
    const params = {};
    let ok = true;
    expected.forEach((segment, i) => {
      if (segment.startsWith(":")) params[segment.slice(1)] = decodeURIComponent(parts[i]);
      else if (segment !== parts[i]) ok = false;
    });
    if (ok) return { page, params, options: options || {} };
  }
  return null;
}

function currentPath() {
  const hash = location.hash.replace(/^#/, "");
  const [path, query] = hash.split("?");
  return { path: path || "/", query: new URLSearchParams(query || "") };
}

function renderNav() {
  const { path } = currentPath();
  const links = nav.map(([href, text]) => {
    const target = href.slice(1);
    const active = target === "/" ? path === "/" : path === target || (path.startsWith(target + "/") && !(target === "/webhooks" && path.startsWith("/webhooks/deliveries")));
    return h("a", { href, class: active ? "active" : "", "aria-current": active ? "page" : null }, text);
  });
  replace(document.getElementById("nav"), links);
  const status = document.getElementById("session");
  replace(status,
    session.key ? h("span", { class: "muted" }, `Key ${session.key.slice(0, 10)}…`) : h("span", { class: "muted" }, "No API key"),
    session.key || session.admin ? h("button", { type: "button", class: "small", onclick: signOut }, "Sign out") : null);
}

function signOut() {
  session.key = "";
  session.admin = "";
  render();
}

/** The form that asks for a tenant's API key (or the admin token). */
export function keyForm({ admin = false, message } = {}) {
  const box = input({ type: "password", autocomplete: "off", placeholder: admin ? "adm_…" : "ka_…", spellcheck: "false" });
  const errors = h("div", { class: "form-errors" });
  const form = h("form", { class: "card narrow" },
    h("h2", {}, admin ? "Admin token" : "Sign in with an API key"),
    message ? notice("error", message) : null,
    h("p", { class: "muted" }, admin
      ? "The operator's admin token (ADMIN_TOKEN, or .data/gateway/admin-token). It is kept in this tab only."
      : "A tenant's API key: the demo key printed by make run, or one made on the API keys page. It is kept in this tab only."),
    field(admin ? "Admin token" : "API key", box),
    errors,
    h("button", { type: "submit", class: "primary" }, "Continue"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = box.value.trim();
    if (!token) return;
    replace(errors);
    try {
      if (admin) {
        session.admin = token;
        await api.get(url`/api/v1/tenants`, { limit: 1 }, { admin: true });
      } else {
        session.key = token;
        await api.get(url`/api/v1/api-keys`);
      }
      render();
    } catch (error) {
      if (admin) session.admin = ""; else session.key = "";
      replace(errors, errorView(error));
    }
  });
  setTimeout(() => box.focus(), 0);
  return form;
}

let generation = 0;

/** Draws the page the hash names. A newer navigation makes an older page's late answers land nowhere. */
export async function render() {
  const mine = ++generation;
  renderNav();
  const main = document.getElementById("main");
  const { path, query } = currentPath();
  const found = match(path);
  if (!found) { replace(main, notice("error", "No such page."), h("p", {}, h("a", { href: "#/" }, "Overview"))); return; }
  const needs = found.options.admin ? session.admin : session.key;
  if (!needs && found.page !== overviewPage) { replace(main, keyForm({ admin: found.options.admin })); return; }
  const page = h("div", { class: "page" });
  replace(main, page);
  try {
    await found.page(page, found.params, query);
  } catch (error) {
    if (mine === generation) page.append(errorView(error));
  }
}

onUnauthorized((admin) => {
  if (admin) session.admin = ""; else session.key = "";
  replace(document.getElementById("main"), keyForm({ admin, message: admin ? "The admin token was refused." : "The API key was refused (wrong, revoked, or its tenant is suspended)." }));
  renderNav();
});

// The top bar: the skip link, the lead search, and the menu button that opens the navigation on a
// narrow screen.
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});
document.getElementById("lead-search").addEventListener("submit", (event) => {
  event.preventDefault();
  const box = document.getElementById("lead-search-box");
  const lead = box.value.trim();
  if (!lead) return;
  box.value = "";
  location.hash = `#/leads/${encodeURIComponent(lead)}`;
});
const menuButton = document.getElementById("menu-button");
menuButton.addEventListener("click", () => {
  const open = menuButton.getAttribute("aria-expanded") !== "true";
  menuButton.setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("nav-open", open);
});
window.addEventListener("hashchange", () => {
  menuButton.setAttribute("aria-expanded", "false");
  document.body.classList.remove("nav-open");
});

window.addEventListener("hashchange", render);
render();
