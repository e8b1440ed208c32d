// The action log: every attempt of every action, newest first, filtered by outcome and action type in the
// address (#/actions?outcome=failed&type=add_note), so a Dashboard figure links to the attempts behind it.

import { h, table, time, field, input, select, link } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { withKommoNames } from "../names.js";
import { outcomeBadge } from "../labels.js";
import { inDoubtButtons } from "./in-doubt.js";

const outcomes = ["", "succeeded", "failed", "skipped", "retry", "held", "deferred", "in_doubt", "blocked", "paused"];

export function actionsPage(page, params, query) {
  const chosen = query.get("outcome") || "";
  const inputs = {
    outcome: select(outcomes.includes(chosen) ? outcomes : [...outcomes, chosen], chosen),
    type: input({ value: query.get("type") || "", placeholder: "add_note, send_message, …" }),
  };
  const filters = h("form", { class: "filters", "aria-label": "Filters" },
    field("Outcome", inputs.outcome, { name: "outcome" }),
    field("Action type", inputs.type, { name: "type" }),
    h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const target = new URLSearchParams();
    for (const [name, box] of Object.entries(inputs)) { const value = box.value.trim(); if (value) target.set(name, value); }
    location.hash = `#/actions${target.toString() ? `?${target}` : ""}`;
  });
  const wanted = {};
  for (const name of ["outcome", "type"]) if (query.get(name)) wanted[name] = query.get(name);
  page.append(h("h1", {}, "Action log"), filters,
    pagedList((cursor) => api.get(url`/api/v1/actions`, { ...wanted, cursor, limit: 50 }).then((r) => r.data), (items) => table([
      { title: "At", cell: (a) => time(a.at) },
      { title: "Type", cell: (a) => h("code", {}, a.type || a.action_type || "") },
      { title: "Lead", cell: (a) => a.lead_id ? link(`#/leads/${encodeURIComponent(a.lead_id)}`, String(a.lead_id)) : "" },
      { title: "Target", cell: (a) => a.target || "" },
      { title: "Outcome", cell: (a) => a.outcome ? outcomeBadge(a.outcome, "action") : "" },
      { title: "Detail", cell: (a) => h("span", { class: "clip" }, withKommoNames(a.detail)) },
      { title: "", cell: (a) => inDoubtButtons(a) },
    ], items, "No attempts match.")));
}
