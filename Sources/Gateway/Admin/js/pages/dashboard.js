// Dashboard: is the AI agent helping? Tiles and charts over the analytics routes for a period, a time zone
// and optionally one agent; every number links to the list behind it.

import { h, replace, table, link, errorView, field, input, select, clearErrors, showErrors } from "../dom.js";
import { api, url } from "../api.js";
import { barChart } from "../charts.js";

const day = 86400 * 1000;

function isoDay(date, zone) {
  // en-CA formats as yyyy-mm-dd.
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
}

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch { return "UTC"; }
}

function money(value) { return Number(value || 0).toLocaleString(); }
function percent(value) { return value == null ? "—" : `${Math.round(Number(value) * 1000) / 10} %`; }

/** A tile that links to the list behind its number. */
function tile(label, value, href) {
  const body = [h("span", { class: "value" }, String(value)), h("span", { class: "label" }, label)];
  return href ? h("a", { class: "stat", href }, ...body) : h("div", { class: "stat" }, ...body);
}

export async function dashboardPage(page, params, query) {
  const zone = query.get("tz") || browserZone();
  const inputs = {
    from: input({ type: "date", value: query.get("from") || isoDay(new Date(Date.now() - 29 * day), zone) }),
    to: input({ type: "date", value: query.get("to") || isoDay(new Date(), zone) }),
    tz: input({ value: zone, list: "dashboard-zones", autocomplete: "off" }),
    // The chosen agent is an option before the agents' names arrive, so the first load already asks for it.
    agent_id: select([["", "all agents"], ...(query.get("agent_id") ? [[query.get("agent_id"), query.get("agent_id")]] : [])],
      query.get("agent_id") || ""),
  };
  const zones = h("datalist", { id: "dashboard-zones" },
    ((Intl.supportedValuesOf && Intl.supportedValuesOf("timeZone")) || ["UTC"]).map((name) => h("option", { value: name })));
  const form = h("form", { class: "filters", "aria-label": "Period" },
    h("div", { class: "form-errors" }),
    field("From", inputs.from, { name: "from" }),
    field("To", inputs.to, { name: "to" }),
    field("Time zone", inputs.tz, { name: "tz" }),
    field("Agent", inputs.agent_id, { name: "agent_id" }),
    zones,
    h("button", { type: "submit" }, "Show"));
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  page.append(h("h1", {}, "Dashboard"), form, body);

  api.get(url`/api/v1/agents`, { limit: 100 }).then((answer) => {
    const chosen = query.get("agent_id") || "";
    replace(inputs.agent_id, h("option", { value: "" }, "all agents"),
      answer.data.items.map((agent) => h("option", { value: agent.id, selected: agent.id === chosen }, agent.name || agent.id)));
  }).catch(() => { /* the period can still be shown for every agent */ });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const target = new URLSearchParams();
    for (const [name, box] of Object.entries(inputs)) { const value = box.value.trim(); if (value) target.set(name, value); }
    const hash = `#/dashboard?${target}`;
    if (location.hash === hash) load(); else location.hash = hash;
  });

  const values = () => Object.fromEntries(Object.entries(inputs).map(([name, box]) => [name, box.value.trim()]).filter(([, v]) => v));

  async function load() {
    clearErrors(form);
    replace(body, h("p", { class: "muted" }, "Loading…"));
    const range = values();
    let overview, outcomes, sequences;
    try {
      [overview, outcomes, sequences] = await Promise.all([
        api.get(url`/api/v1/analytics/overview`, range),
        api.get(url`/api/v1/analytics/outcomes`, range),
        api.get(url`/api/v1/analytics/sequences`, range),
      ]);
    } catch (error) {
      showErrors(form, error);
      replace(body, errorView(error));
      return;
    }
    const o = overview.data, t = o.totals || {};
    const days = (o.days || []).map((d) => d.day);
    const series = (name) => (o.days || []).map((d) => Number((d.figures || {})[name] || 0));
    const ruleHref = (rule) => rule.agent_id ? `#/agents/${encodeURIComponent(rule.agent_id)}/rules/${encodeURIComponent(rule.rule_id)}` : null;
    const out = outcomes.data;
    const funnels = h("div", {});
    replace(body,
      h("section", { class: "card" }, h("h2", {}, "What the agents earned"),
        h("div", { class: "stats" },
          tile("leads touched", t.leads_touched || 0, "#/leads"),
          tile("advanced a stage", t.leads_advanced || 0),
          tile("won", t.leads_won || 0),
          tile("lost", t.leads_lost || 0),
          tile("won value", money(t.won_value)),
          tile("days to win (mean)", out.average_seconds_to_won == null ? "—" : String(Math.round(out.average_seconds_to_won / 864) / 100)))),
      h("section", { class: "card" }, h("h2", {}, "Conversations"),
        h("div", { class: "stats" },
          tile("messages sent", t.messages_sent || 0),
          tile("AI replies", t.ai_replies || 0),
          tile("lead messages", t.inbound_messages || 0, "#/webhooks?type=message_received"),
          tile("manager messages", t.manager_messages || 0, "#/webhooks?type=message_sent"),
          tile("replied within 24 h", t.replies_24h || 0),
          tile("reply rate", percent(t.reply_rate)))),
      h("section", { class: "card" }, h("h2", {}, "Events, rules and actions"),
        h("div", { class: "stats" },
          tile("events", t.events || 0, "#/webhooks"),
          tile("unparsed", t.deliveries_unparsed || 0, "#/webhooks/deliveries?status=unparsed"),
          tile("rejected", t.deliveries_rejected || 0, "#/webhooks/deliveries?status=rejected"),
          tile("dispatches failed", t.dispatch_failed || 0, "#/webhooks?status=failed"),
          tile("rule fires", t.rule_fires || 0),
          tile("not fired", t.rules_not_fired || 0),
          tile("actions succeeded", t.actions_succeeded || 0),
          tile("actions failed", t.actions_failed || 0),
          tile("Kommo calls", (o.kommo || {}).calls || 0),
          tile("Kommo 429s", (o.kommo || {}).rate_limited || 0),
          tile("Kommo p50", (o.kommo || {}).latency_p50_ms == null ? "—" : `≤ ${o.kommo.latency_p50_ms} ms`),
          tile("Kommo p99", (o.kommo || {}).latency_p99_ms == null ? "—" : `≤ ${o.kommo.latency_p99_ms} ms`))),
      h("section", { class: "card" }, h("h2", {}, "Per day"),
        barChart("Events per day", days, [{ label: "events", values: series("events") }]),
        barChart("Rule fires per day", days, [{ label: "fired", values: series("rule_fires"), color: "#137a3a" },
          { label: "not fired", values: series("rules_not_fired"), color: "#8a5a00" }], { stacked: true }),
        barChart("Actions per day, by outcome", days, [{ label: "succeeded", values: series("actions_succeeded"), color: "#137a3a" },
          { label: "failed", values: series("actions_failed"), color: "#b42318" },
          { label: "other", values: series("actions_other"), color: "#475467" }], { stacked: true }),
        barChart("Messages and replies within 24 h", days, [{ label: "messages sent", values: series("messages_sent") },
          { label: "replies within 24 h", values: series("replies_24h") }]),
        barChart("Won value per day", days, [{ label: "won value", values: series("won_value"), color: "#137a3a" }])),
      h("section", { class: "card" }, h("h2", {}, "Top rules"),
        table([
          { title: "Rule", cell: (r) => { const href = ruleHref(r); return href ? link(href, r.name || r.rule_id) : (r.name || r.rule_id); } },
          { title: "Fires", cell: (r) => String(r.fires) },
        ], o.top_rules || [], "No rule fired in this period.")),
      h("section", { class: "card" }, h("h2", {}, "Last touch before a stage change"),
        table([
          { title: "Kind", cell: (a) => a.kind },
          { title: "What", cell: (a) => a.name || a.id },
          { title: "Advanced", cell: (a) => String(a.figures.leads_advanced) },
          { title: "Won", cell: (a) => String(a.figures.leads_won) },
          { title: "Lost", cell: (a) => String(a.figures.leads_lost) },
          { title: "Won value", cell: (a) => money(a.figures.won_value) },
        ], out.attributions || [], "No touched lead changed stage in this period.")),
      h("section", { class: "card" }, h("h2", {}, "Sequences"),
        table([
          { title: "Sequence", cell: (s) => s.agent_id ? link(`#/agents/${encodeURIComponent(s.agent_id)}/sequences/${encodeURIComponent(s.sequence_id)}`, s.name || s.sequence_id) : (s.name || s.sequence_id) },
          { title: "Enrolled", cell: (s) => String(s.figures.enrolled) },
          { title: "Completed", cell: (s) => String(s.figures.completed) },
          { title: "Exited", cell: (s) => String(s.figures.exited) },
          { title: "Won", cell: (s) => String(s.figures.leads_won) },
        ], sequences.data.sequences || [], "No enrollments in this period."),
        funnels));
    for (const sequence of (sequences.data.sequences || []).slice(0, 3)) {
      api.get(url`/api/v1/analytics/sequences/${sequence.sequence_id}/funnel`, range).then((answer) => {
        const steps = answer.data.steps || [];
        funnels.append(barChart(`Funnel: ${answer.data.name || sequence.sequence_id}`, steps.map((s) => `${s.position}. ${s.step_id}`),
          [{ label: "reached", values: steps.map((s) => s.reached) }, { label: "succeeded", values: steps.map((s) => s.succeeded), color: "#137a3a" }]));
      }).catch((error) => funnels.append(errorView(error)));
    }
  }
  await load();
}
