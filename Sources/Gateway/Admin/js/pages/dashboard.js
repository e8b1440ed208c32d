// Dashboard: is the AI agent helping? Tiles and charts over the analytics routes for a period, a time zone
// and optionally one agent; every number links to the list behind it.

import { h, replace, table, link, errorView, field, input, select, clearErrors, showErrors } from "../dom.js";
import { api, url } from "../api.js";
import { svgBarChart } from "../svgchart.js";

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

/** A tile that links to the list behind its number; a figure the answer names as the tenant's (with an
 *  agent chosen) says so instead of showing a 0 that is not the agent's. */
function tile(label, value, href, { tenantWide = false } = {}) {
  if (tenantWide) {
    return h("div", { class: "stat", "data-tenant-wide": "" }, h("span", { class: "value" }, "—"), h("span", { class: "label" }, label),
      h("span", { class: "note" }, "per tenant, not per agent"));
  }
  const body = [h("span", { class: "value" }, String(value)), h("span", { class: "label" }, label)];
  return href ? h("a", { class: "stat", href }, ...body) : h("div", { class: "stat" }, ...body);
}

function seconds(value) {
  if (value == null) return "—";
  return value < 120 ? `≤ ${value} s` : value < 7200 ? `≤ ${Math.round(value / 60)} min` : `≤ ${Math.round(value / 3600)} h`;
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
    const wide = new Set(o.tenant_wide || []);
    const days = (o.days || []).map((d) => d.day);
    const series = (name) => (o.days || []).map((d) => Number((d.figures || {})[name] || 0));
    const agentID = range.agent_id || "";
    const ruleHref = (rule) => rule.agent_id ? `#/agents/${encodeURIComponent(rule.agent_id)}/rules/${encodeURIComponent(rule.rule_id)}` : null;
    const sequenceHref = (s) => s.agent_id ? `#/agents/${encodeURIComponent(s.agent_id)}/sequences/${encodeURIComponent(s.sequence_id)}` : null;
    // The lists behind the numbers: the webhook history of the period (by type), the action log (by outcome or type).
    const period = { from: `${o.from}T00:00`, to: `${o.to}T23:59` };
    const history = (filters = {}) => `#/webhooks?${new URLSearchParams({ ...filters, ...period })}`;
    const actions = (filters) => `#/actions?${new URLSearchParams(filters)}`;
    const rulesHref = agentID ? `#/agents/${encodeURIComponent(agentID)}/rules` : "#/agents";
    const out = outcomes.data;
    const first = o.first_response || {};
    const funnels = h("div", {});
    const scripts = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    const figure = (label, name, href) => tile(label, t[name] || 0, href, { tenantWide: wide.has(name) });
    replace(body,
      wide.size ? h("p", { class: "notice info" }, "Figures marked “per tenant” are counted for the whole account, not per agent.") : "",
      h("section", { class: "card" }, h("h2", {}, "What the agents earned"),
        h("div", { class: "stats" },
          tile("leads touched", t.leads_touched || 0, "#/leads"),
          tile("advanced a stage", t.leads_advanced || 0, history({ type: "stage_changed" })),
          tile("won", t.leads_won || 0, history({ type: "stage_changed" })),
          tile("lost", t.leads_lost || 0, history({ type: "stage_changed" })),
          tile("won value", money(t.won_value), history({ type: "stage_changed" })),
          tile("days to win (mean)", out.average_seconds_to_won == null ? "—" : String(Math.round(out.average_seconds_to_won / 864) / 100),
            history({ type: "stage_changed" })))),
      h("section", { class: "card" }, h("h2", {}, "Conversations"),
        h("div", { class: "stats" },
          tile("messages sent", t.messages_sent || 0, actions({ type: "send_message" })),
          tile("AI replies", t.ai_replies || 0, actions({ type: "ai_response" })),
          figure("lead messages", "inbound_messages", history({ type: "message_received" })),
          figure("manager messages", "manager_messages", history({ type: "message_sent" })),
          figure("replied within 24 h", "replies_24h", history({ type: "message_received" })),
          tile("reply rate", percent(t.reply_rate), history({ type: "message_received" }), { tenantWide: wide.has("reply_rate") }),
          figure("first responses", "first_responses", actions({ type: "ai_response" })),
          tile("first response (median)", seconds(first.median_seconds), actions({ type: "ai_response" }), { tenantWide: wide.has("first_response") }),
          figure("hand-offs to managers", "handoffs", history({ type: "message_sent" })))),
      h("section", { class: "card" }, h("h2", {}, "Events, rules and actions"),
        h("div", { class: "stats" },
          figure("events", "events", history()),
          figure("unparsed", "deliveries_unparsed", "#/webhooks/deliveries?status=unparsed"),
          figure("rejected", "deliveries_rejected", "#/webhooks/deliveries?status=rejected"),
          figure("dispatches failed", "dispatch_failed", history({ status: "failed" })),
          tile("rule fires", t.rule_fires || 0, rulesHref),
          tile("not fired", t.rules_not_fired || 0, rulesHref),
          tile("actions succeeded", t.actions_succeeded || 0, actions({ outcome: "succeeded" })),
          tile("actions failed", t.actions_failed || 0, actions({ outcome: "failed" })),
          tile("actions skipped or other", t.actions_other || 0, actions({ outcome: "skipped" })),
          tile("Kommo calls", (o.kommo || {}).calls || 0, "#/actions", { tenantWide: wide.has("kommo") }),
          tile("Kommo 429s", (o.kommo || {}).rate_limited || 0, "#/actions", { tenantWide: wide.has("kommo") }),
          tile("Kommo p50", (o.kommo || {}).latency_p50_ms == null ? "—" : `≤ ${o.kommo.latency_p50_ms} ms`, "#/actions", { tenantWide: wide.has("kommo") }),
          tile("Kommo p99", (o.kommo || {}).latency_p99_ms == null ? "—" : `≤ ${o.kommo.latency_p99_ms} ms`, "#/actions", { tenantWide: wide.has("kommo") }),
          tile("live enrollments", o.live_enrollments || 0, agentID ? `#/agents/${encodeURIComponent(agentID)}/sequences` : "#/agents"))),
      h("section", { class: "card" }, h("h2", {}, "Per day"),
        wide.has("events") ? h("p", { class: "muted" }, "Events per day are the tenant's: choose all agents to see them.")
          : svgBarChart("Events per day", days, [{ label: "events", values: series("events"), href: history() }]),
        svgBarChart("Rule fires per day", days, [{ label: "fired", values: series("rule_fires"), color: "#137a3a", href: rulesHref },
          { label: "not fired", values: series("rules_not_fired"), color: "#8a5a00", href: rulesHref }], { stacked: true }),
        svgBarChart("Actions per day, by outcome", days, [
          { label: "succeeded", values: series("actions_succeeded"), color: "#137a3a", href: actions({ outcome: "succeeded" }) },
          { label: "failed", values: series("actions_failed"), color: "#b42318", href: actions({ outcome: "failed" }) },
          { label: "other", values: series("actions_other"), color: "#475467", href: actions({ outcome: "skipped" }) }], { stacked: true }),
        svgBarChart("Messages and replies within 24 h", days, [
          { label: "messages sent", values: series("messages_sent"), href: actions({ type: "send_message" }) },
          ...(wide.has("replies_24h") ? [] : [{ label: "replies within 24 h", values: series("replies_24h"), href: history({ type: "message_received" }) }])]),
        svgBarChart("Won value per day", days, [{ label: "won value", values: series("won_value"), color: "#137a3a", href: history({ type: "stage_changed" }) }])),
      h("section", { class: "card" }, h("h2", {}, "Top rules"),
        table([
          { title: "Rule", cell: (r) => { const href = ruleHref(r); return href ? link(href, r.name || r.rule_id) : (r.name || r.rule_id); } },
          { title: "Fires", cell: (r) => { const href = ruleHref(r); return href ? link(href, String(r.fires)) : String(r.fires); } },
        ], o.top_rules || [], "No rule fired in this period.")),
      h("section", { class: "card" }, h("h2", {}, "Scripts"), scripts),
      h("section", { class: "card" }, h("h2", {}, "Last touch before a stage change"),
        table([
          { title: "Kind", cell: (a) => a.kind },
          { title: "What", cell: (a) => a.name || a.id },
          { title: "Advanced", cell: (a) => link(history({ type: "stage_changed" }), String(a.figures.leads_advanced)) },
          { title: "Won", cell: (a) => link(history({ type: "stage_changed" }), String(a.figures.leads_won)) },
          { title: "Lost", cell: (a) => link(history({ type: "stage_changed" }), String(a.figures.leads_lost)) },
          { title: "Won value", cell: (a) => link(history({ type: "stage_changed" }), money(a.figures.won_value)) },
        ], out.attributions || [], "No touched lead changed stage in this period.")),
      h("section", { class: "card" }, h("h2", {}, "Sequences"),
        table([
          { title: "Sequence", cell: (s) => sequenceHref(s) ? link(sequenceHref(s), s.name || s.sequence_id) : (s.name || s.sequence_id) },
          ...["enrolled", "active", "completed", "exited", "leads_won"].map((name) => ({
            title: { enrolled: "Enrolled", active: "Active now", completed: "Completed", exited: "Exited", leads_won: "Won" }[name],
            cell: (s) => sequenceHref(s) ? link(sequenceHref(s), String(s.figures[name] || 0)) : String(s.figures[name] || 0),
          })),
        ], sequences.data.sequences || [], "No enrollments in this period."),
        funnels));
    api.get(url`/api/v1/analytics/scripts`, range).then((answer) => {
      const scriptHref = (x) => `#/agents/${encodeURIComponent(x.agent_id)}/scripts/${encodeURIComponent(x.script_id)}`;
      replace(scripts, table([
        { title: "#", cell: (x) => String(x.rank) },
        { title: "Script", cell: (x) => link(scriptHref(x), x.name || x.script_id) },
        { title: "Uses", cell: (x) => link(scriptHref(x), String(x.uses)) },
        { title: "Reply rate", cell: (x) => percent(x.reply_rate) },
        { title: "Advance rate", cell: (x) => percent(x.advance_rate) },
        { title: "Win rate", cell: (x) => percent(x.win_rate) },
        { title: "Versions used", cell: (x) => (x.versions || []).map((v) => `v${v.version}: ${v.uses}`).join(", ") || "—" },
      ], answer.data.scripts || [], "No scripts yet."));
    }).catch((error) => replace(scripts, errorView(error)));
    for (const sequence of (sequences.data.sequences || []).slice(0, 3)) {
      api.get(url`/api/v1/analytics/sequences/${sequence.sequence_id}/funnel`, range).then((answer) => {
        const steps = answer.data.steps || [];
        const href = sequenceHref(sequence);
        funnels.append(svgBarChart(`Funnel: ${answer.data.name || sequence.sequence_id}`, steps.map((s) => `${s.position}. ${s.step_id}`),
          [{ label: "reached", values: steps.map((s) => s.reached), href }, { label: "succeeded", values: steps.map((s) => s.succeeded), color: "#137a3a", href }]));
      }).catch((error) => funnels.append(errorView(error)));
    }
  }
  await load();
}
