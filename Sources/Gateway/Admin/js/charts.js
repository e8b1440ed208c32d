// Numbers as pictures: rule statistics, script effectiveness and usage as tiles and Chart.js bar
// charts, each chart with its numbers in a table beside it (for screen readers, and for when Chart.js
// is not installed, which the chart's place then says). And `codeEditor()`, CodeMirror on a textarea.

import { h, replace, table, notice, details } from "./dom.js";
import { loadChart, loadCodeMirror } from "./vendor.js";
import { outcomeWords } from "./labels.js";

const palette = ["#2457c5", "#137a3a", "#b42318", "#8a5a00", "#6941c6", "#0e7490", "#c4320a", "#475467"];

/** A tile: a big number and what it counts. */
export function tile(label, value) {
  return h("div", { class: "stat" }, h("span", { class: "value" }, value), h("span", { class: "label" }, label));
}

function rate(value) {
  return value == null ? "—" : `${Math.round(Number(value) * 1000) / 10} %`;
}

/**
 * A bar chart of `series` ([{label, values}]) over `labels` (days), stacked when asked. The same numbers
 * are in a table under "Numbers". Returns the element at once; the chart is drawn once Chart.js loads.
 */
export function barChart(title, labels, series, { stacked = false } = {}) {
  const summary = `${title}: ${series.map((s) => `${s.label} ${s.values.reduce((a, b) => a + Number(b || 0), 0)}`).join(", ")}`;
  const canvas = h("canvas", { role: "img", "aria-label": summary });
  const box = h("div", { class: "chart-box" }, canvas);
  const numbers = details("Numbers", table([{ title: "Day", cell: (row) => row.label },
    ...series.map((s) => ({ title: s.label, cell: (row) => String(row.values[s.label] ?? 0) }))],
  labels.map((label, i) => ({ label, values: Object.fromEntries(series.map((s) => [s.label, s.values[i]])) }))));
  const figure = h("figure", { class: "chart" }, h("figcaption", {}, title), box, numbers);
  if (!labels.length) { replace(box, h("p", { class: "muted" }, "Nothing counted in this period yet.")); return figure; }
  loadChart().then((Chart) => {
    new Chart(canvas, {
      type: "bar",
      data: { labels, datasets: series.map((s, i) => ({ label: s.label, data: s.values, backgroundColor: s.color || palette[i % palette.length] })) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked }, y: { stacked, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }).catch((error) => replace(box, notice("info", error.message)));
  return figure;
}

/** A rule's statistics (`GET …/rules/{id}/stats`): tiles for fired and each reason not to, a chart per day. */
export function ruleStatsView(report) {
  const rules = (report && report.rules) || [];
  const rule = rules[0];
  if (!rule) return h("p", { class: "muted" }, "This rule has not met an event in this period.");
  const outcomes = Object.entries(rule.outcomes || {}).filter(([code]) => code !== "fired").sort((a, b) => b[1] - a[1]);
  const days = rule.days || [];
  const codes = ["fired", ...outcomes.map(([code]) => code)];
  return h("div", {},
    h("div", { class: "stats" },
      tile("fired", String(rule.fired || 0)),
      tile("did not fire", String(rule.not_fired || 0)),
      outcomes.map(([code, count]) => tile(`${outcomeWords(code)} · ${code}`, String(count)))),
    barChart("Per day", days.map((d) => d.day),
      codes.map((code, i) => ({ label: code === "fired" ? "fired" : outcomeWords(code), color: code === "fired" ? "#137a3a" : palette[(i + 2) % palette.length],
        values: days.map((d) => Number((d.outcomes || {})[code] || 0)) })), { stacked: true }),
    h("p", { class: "muted small" }, `From ${new Date(report.from).toLocaleDateString()} to ${new Date(report.to).toLocaleDateString()}.`));
}

/** A script's effectiveness (`GET …/scripts/{id}/stats`): rates as tiles (the current version among them), uses per day. */
export function scriptStatsView(report) {
  const r = report || {};
  const days = r.days || [];
  return h("div", {},
    h("div", { class: "stats" },
      tile("current version", String(r.version ?? "—")),
      tile("uses", String(r.uses || 0)),
      tile("reply rate", rate(r.reply_rate)),
      tile("advance rate", rate(r.advance_rate)),
      tile("win rate", rate(r.win_rate)),
      tile("median reply", r.median_reply_seconds == null ? "—" : `${Math.round(r.median_reply_seconds / 60)} min`)),
    (r.versions || []).length ? table([
      { title: "Version", cell: (v) => String(v.version) },
      { title: "Uses", cell: (v) => String(v.uses || 0) },
      { title: "Reply rate", cell: (v) => rate(v.reply_rate) },
      { title: "Advance rate", cell: (v) => rate(v.advance_rate) },
      { title: "Win rate", cell: (v) => rate(v.win_rate) },
    ], r.versions) : null,
    barChart("Uses per day", days.map((d) => d.day), [
      { label: "uses", values: days.map((d) => Number(d.uses || 0)) },
      { label: "replies", values: days.map((d) => Number(d.replies || 0)) },
      { label: "wins", values: days.map((d) => Number(d.wins || 0)) },
    ]));
}

const usageKinds = [["message_sent", "messages sent"], ["ai_reply", "AI replies"], ["ai_tokens", "AI tokens"]];

/** Usage (the usage report): totals as tiles, messages and AI replies per day. */
export function usageView(report) {
  const r = report || {};
  const totals = r.totals || {};
  const days = [...new Set((r.days || []).map((d) => d.day))].sort();
  const units = (kind) => days.map((day) => Number(((r.days || []).find((d) => d.day === day && d.kind === kind) || {}).units || 0));
  return h("div", {},
    h("div", { class: "stats" }, usageKinds.map(([kind, label]) => tile(`${label} (30 d)`, String(totals[kind] || 0)))),
    barChart("Messages and AI replies per day", days, usageKinds.slice(0, 2).map(([kind, label]) => ({ label, values: units(kind) }))));
}

/**
 * CodeMirror on `textarea` (JSON by default), kept in sync with it: the textarea's value is always the
 * editor's text and an `input` event follows each change, so forms read the textarea as before. Resolves
 * to the editor, or to null when CodeMirror is not installed (the textarea stays, with a note saying
 * what to install).
 */
export async function codeEditor(textarea, { mode = { name: "javascript", json: true }, label } = {}) {
  let CodeMirror;
  try {
    CodeMirror = await loadCodeMirror();
  } catch (error) {
    textarea.insertAdjacentElement("afterend", h("small", { class: "hint" }, error.message));
    return null;
  }
  const editor = CodeMirror.fromTextArea(textarea, {
    mode, lineNumbers: true, matchBrackets: true, autoCloseBrackets: true, tabSize: 2, indentUnit: 2, viewportMargin: Infinity,
  });
  const field = editor.getInputField();
  const name = label || (textarea.labels && textarea.labels[0] && textarea.labels[0].textContent) || textarea.getAttribute("aria-label");
  if (name) field.setAttribute("aria-label", name);
  if (textarea.id) { const labelElement = document.querySelector(`label[for="${textarea.id}"]`); if (labelElement) labelElement.addEventListener("click", () => editor.focus()); }
  editor.on("change", () => { editor.save(); textarea.dispatchEvent(new Event("input", { bubbles: true })); });
  return editor;
}
