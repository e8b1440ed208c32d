// Overview: whether the four processes answer, and what the tenant has.

import { h, replace, badge, table, time, link, errorView, notice } from "../dom.js";
import { api, url, session } from "../api.js";
import { usageView } from "../charts.js";

export async function overviewPage(page) {
  const services = h("div", {}, h("p", { class: "muted" }, "Asking /readyz…"));
  const counts = h("div", { class: "stats" });
  const recent = h("div", {});
  const usageSlot = h("div", {});
  page.append(h("h1", {}, "Overview"),
    h("section", { class: "card" }, h("h2", {}, "Services"), services),
    h("section", { class: "card" }, h("h2", {}, "This tenant"), counts),
    usageSlot,
    h("section", { class: "card" }, h("h2", {}, "Latest events"), recent));

  // /readyz answers 503 with the same body when a service is down, so read it either way.
  fetch("/readyz", { cache: "no-store" }).then((r) => r.json()).then((readiness) => {
    replace(services,
      h("p", {}, "System: ", badge(readiness.status)),
      table([
        { title: "Service", cell: (s) => s.name },
        { title: "State", cell: (s) => badge(s.state) },
        { title: "Up", cell: (s) => s.uptime_seconds == null ? "—" : duration(s.uptime_seconds) },
        { title: "Detail", cell: (s) => s.detail || "" },
      ], readiness.services || []));
  }).catch((error) => replace(services, notice("error", `The gateway did not answer: ${error.message}`)));

  if (!session.key) {
    replace(counts, h("p", {}, "Sign in with an API key to see the tenant's agents and webhooks. ", link("#/agents", "Sign in")));
    return;
  }
  const tiles = [];
  const tile = (label, value, href) => h("a", { class: "stat", href }, h("span", { class: "value" }, value), h("span", { class: "label" }, label));
  try {
    const [agents, stats] = await Promise.all([api.get(url`/api/v1/agents`, { limit: 100 }), api.get(url`/api/v1/webhooks/stats`)]);
    const agentCount = agents.data.items.length + (agents.data.next_cursor ? "+" : "");
    tiles.push(tile("agents", agentCount, "#/agents"));
    const s = stats.data || {};
    const events = (s.counts || []).reduce((sum, c) => sum + Number(c.count || 0), 0);
    tiles.push(tile("events", events, "#/webhooks"));
    tiles.push(tile("deliveries", s.deliveries || 0, "#/webhooks/deliveries"));
    tiles.push(tile("duplicates", s.duplicates || 0, "#/webhooks/deliveries"));
    tiles.push(tile("unparsed", s.unparsed || 0, "#/webhooks/deliveries?status=unparsed"));
    tiles.push(tile("rejected", s.rejected || 0, "#/webhooks/deliveries?status=rejected"));
    tiles.push(tile("dispatches pending", s.pending_dispatches || 0, "#/webhooks"));
    tiles.push(tile("dispatches failed", s.failed_dispatches || 0, "#/webhooks?status=failed"));
    replace(counts, tiles);
  } catch (error) {
    replace(counts, errorView(error));
  }
  try {
    const since = new Date(Date.now() - 30 * 86400 * 1000).toISOString();
    const usage = await api.get(url`/api/v1/usage`, { from: since });
    usageSlot.replaceWith(h("section", { class: "card" }, h("h2", {}, "Usage"), usageView(usage.data)));
  } catch (error) {
    counts.append(errorView(error));
  }
  try {
    const events = await api.get(url`/api/v1/webhooks/events`, { limit: 10 });
    replace(recent, table([
      { title: "Received", cell: (e) => time(e.received_at) },
      { title: "Type", cell: (e) => link(`#/webhooks/events/${encodeURIComponent(e.id)}`, e.type) },
      { title: "Lead", cell: (e) => e.lead_id ? link(`#/leads/${encodeURIComponent(e.lead_id)}`, e.lead_id) : "—" },
      { title: "Status", cell: (e) => badge(e.status) },
      { title: "Actions", cell: (e) => String(e.actions) },
    ], events.data.items, "No events yet: post a webhook to the URL on the Integrations page."));
  } catch (error) {
    replace(recent, errorView(error));
  }
}

function duration(seconds) {
  const s = Number(seconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
