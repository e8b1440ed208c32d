// Billing: the plan and its status, usage against every limit, alerts, and the ways to upgrade
// (Stripe Checkout) and manage the subscription (Stripe's Billing Portal).

import { h, replace, badge, table, time, button, notice, errorView } from "../dom.js";
import { api, url, newIdempotencyKey } from "../api.js";

const limitNames = {
  agents: "Agents",
  active_rules: "Active rules",
  active_sequences: "Active sequences",
  active_enrollments: "Active enrollments",
  ai_replies_per_month: "AI replies this month",
  messages_per_month: "Messages this month",
  webhook_events_per_month: "Webhook events this month",
};

function usageRow(use) {
  const label = limitNames[use.limit] || use.limit;
  if (use.allowed === undefined || use.allowed === null) {
    return h("div", { class: "usage" }, h("strong", {}, label), " ", `${use.used} (unlimited)`);
  }
  // A <meter> needs no styling of ours (the page's policy allows no inline styles).
  const meter = h("meter", { min: "0", max: String(Math.max(use.allowed, 1)), low: String(use.allowed * 0.8), high: String(use.allowed * 0.99),
                             optimum: "0", value: String(Math.min(use.used, Math.max(use.allowed, 1))), title: `${use.percent ?? 0} %` });
  return h("div", { class: "usage" }, h("strong", {}, label), " ", meter, " ", `${use.used} of ${use.allowed}`,
    use.exceeded ? h("span", {}, " ", badge("limit reached")) : null);
}

export async function billingPage(page) {
  const body = h("div", {});
  page.append(h("h1", {}, "Billing"), body);
  let answer;
  try {
    answer = (await api.get(url`/api/v1/billing`)).data;
  } catch (error) { replace(body, errorView(error)); return; }
  const b = answer;
  const actions = h("div", { class: "form-errors" });
  const status = h("section", { class: "card" },
    h("h2", {}, `Plan: ${b.plan.name}`),
    b.billing_enabled ? null : notice("ok", "Billing is off on this deployment: every limit is unlimited."),
    h("p", {}, "Status ", badge(b.status), b.blocked ? h("span", {}, " ", badge("blocked")) : null),
    b.blocked ? notice("error", `AI replies and messages are not sent: ${b.block_reason || "blocked"}. Webhooks are still received and kept.`) : null,
    b.current_period_end ? h("p", {}, b.cancel_at_period_end ? "Ends " : "Renews ", time(b.current_period_end)) : null,
    b.cancel_at_period_end ? notice("error", "The subscription is set to cancel at the end of the period.") : null,
    actions);
  if (b.billing_enabled) {
    const upgrades = (b.plans || []).filter((p) => p.purchasable && p.id !== b.plan.id);
    for (const plan of upgrades) {
      status.append(button(`Upgrade to ${plan.name}`, async () => {
        replace(actions);
        try {
          const session = await api.post(url`/api/v1/billing/checkout`, { plan: plan.id }, { idempotencyKey: newIdempotencyKey() });
          location.assign(session.data.url);
        } catch (error) { replace(actions, errorView(error)); }
      }, { kind: "primary" }), " ");
    }
    if (b.status !== "none") {
      status.append(button("Manage subscription", async () => {
        replace(actions);
        try {
          const session = await api.post(url`/api/v1/billing/portal`, undefined, { idempotencyKey: newIdempotencyKey() });
          location.assign(session.data.url);
        } catch (error) { replace(actions, errorView(error)); }
      }));
    }
  }
  replace(body,
    status,
    h("section", { class: "card" }, h("h2", {}, `Usage (${b.month})`), ...(b.usage || []).map(usageRow),
      b.held_webhook_events > 0
        ? h("p", {}, `${b.held_webhook_events} webhook event${b.held_webhook_events === 1 ? " is" : "s are"} kept in the history and held: `
            + "they are dispatched in order once the plan allows more (upgrade, or the next month).")
        : null),
    h("section", { class: "card" }, h("h2", {}, "Alerts"), table([
      { title: "Limit", cell: (a) => limitNames[a.limit] || a.limit },
      { title: "Reached", cell: (a) => badge(`${a.threshold} %`) },
      { title: "Used", cell: (a) => `${a.used} of ${a.allowed}` },
      { title: "When", cell: (a) => time(a.at) },
    ], b.alerts || [], "No allowance has reached 80 % this month.")),
    h("section", { class: "card" }, h("h2", {}, "Invoices"), table([
      { title: "Invoice", cell: (i) => i.hosted_invoice_url ? h("a", { href: i.hosted_invoice_url, rel: "noopener noreferrer", target: "_blank" }, i.id) : i.id },
      { title: "Status", cell: (i) => badge(i.status) },
      { title: "Amount", cell: (i) => `${(i.amount_paid || i.amount_due) / 100} ${i.currency.toUpperCase()}` },
      { title: "Date", cell: (i) => time(i.created) },
    ], b.invoices || [], "No invoices yet.")),
    b.billing_enabled ? h("section", { class: "card" }, h("h2", {}, "Usage sent to Stripe"), table([
      { title: "Month", cell: (r) => r.month },
      { title: "Meter", cell: (r) => h("code", {}, r.meter) },
      { title: "Ledger", cell: (r) => String(r.ledger) },
      { title: "Pushed", cell: (r) => String(r.pushed) },
      { title: "Refused", cell: (r) => String(r.refused) },
      { title: "", cell: (r) => r.flagged ? badge(`${r.difference} not counted`) : badge("in step") },
    ], b.reconciliation || [], "Nothing metered yet.")) : null,
    h("section", { class: "card" }, h("h2", {}, "Stripe events"), table([
      { title: "Event", cell: (e) => h("code", {}, e.id) },
      { title: "Type", cell: (e) => e.type },
      { title: "Outcome", cell: (e) => badge(e.outcome) },
      { title: "Created", cell: (e) => time(e.created) },
    ], b.events || [], "No Stripe events yet.")));
}
