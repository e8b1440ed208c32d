// Bar charts drawn as SVG by this file alone: no canvas and no library, so a chart is part of the page —
// read by screen readers through its <title> and <desc>, each bar with its own <title> (the day and the
// number), and the same numbers in a table under "Numbers". A series' total in the legend links to the
// list behind it when the series has an `href`.

import { h, table, details } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const palette = ["#2457c5", "#137a3a", "#b42318", "#8a5a00", "#6941c6", "#0e7490", "#c4320a", "#475467"];
let charts = 0;

function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Rounds the largest value up to a number a reader can take in at a glance (1, 2 or 5 times a power of ten). */
function niceMaximum(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/**
 * A bar chart of `series` ([{label, values, color}]) over `labels`, side by side or stacked. Returns a
 * <figure> with the SVG, a legend and the numbers as a table.
 */
export function svgBarChart(title, labels, series, { stacked = false } = {}) {
  const id = `chart-${++charts}`;
  const totals = series.map((one) => one.values.reduce((a, b) => a + Number(b || 0), 0));
  const description = `${labels.length ? `${labels[0]} to ${labels[labels.length - 1]}` : "No days"}: `
    + series.map((one, i) => `${one.label} ${totals[i]} in total`).join(", ") + ".";
  const numbers = details("Numbers", table([{ title: "Day", cell: (row) => row.label },
    ...series.map((one) => ({ title: one.label, cell: (row) => String(row.values[one.label] ?? 0) }))],
  labels.map((label, i) => ({ label, values: Object.fromEntries(series.map((one) => [one.label, one.values[i]])) }))));
  if (!labels.length) {
    return h("figure", { class: "chart" }, h("figcaption", {}, title), h("p", { class: "muted" }, "Nothing counted in this period yet."), numbers);
  }

  const width = 640, height = 220, left = 44, right = 8, top = 10, bottom = 28;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  const sums = labels.map((_, i) => stacked ? series.reduce((a, one) => a + Number(one.values[i] || 0), 0)
    : Math.max(0, ...series.map((one) => Number(one.values[i] || 0))));
  const maximum = niceMaximum(Math.max(0, ...sums));
  const slot = plotWidth / labels.length;
  const barWidth = Math.max(1, (stacked ? slot * 0.7 : (slot * 0.8) / series.length));
  const y = (value) => top + plotHeight - (value / maximum) * plotHeight;

  const grid = [0, 0.5, 1].map((share) => {
    const value = Math.round(maximum * share);
    return s("g", { class: "tick" },
      s("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), stroke: "#d0d5dd", "stroke-width": 1 }),
      s("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", "font-size": 11, fill: "#475467" }, String(value)));
  });
  // At most about eight day labels under the axis, always the first and the last.
  const every = Math.max(1, Math.ceil(labels.length / 8));
  const axis = labels.map((label, i) => (i % every === 0 || i === labels.length - 1)
    ? s("text", { x: left + slot * i + slot / 2, y: height - 8, "text-anchor": "middle", "font-size": 11, fill: "#475467" }, /^\d{4}-\d{2}-\d{2}$/.test(label) ? label.slice(5) : label)
    : null);
  const bars = [];
  labels.forEach((label, i) => {
    let base = 0;
    series.forEach((one, k) => {
      const value = Number(one.values[i] || 0);
      if (value <= 0) return;
      const x = stacked ? left + slot * i + (slot - barWidth) / 2 : left + slot * i + slot * 0.1 + barWidth * k;
      const barTop = stacked ? y(base + value) : y(value);
      const bottomY = stacked ? y(base) : y(0);
      base += stacked ? value : 0;
      const rect = s("rect", { x, y: barTop, width: barWidth, height: Math.max(1, bottomY - barTop), fill: one.color || palette[k % palette.length],
        "data-series": one.label, "data-label": label, "data-value": value },
      s("title", {}, `${label}: ${one.label} ${value}`));
      bars.push(rect);
    });
  });
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-labelledby": `${id}-title ${id}-desc`,
    class: "svg-chart", preserveAspectRatio: "xMidYMid meet" },
  s("title", { id: `${id}-title` }, title),
  s("desc", { id: `${id}-desc` }, description),
  grid, bars, axis);
  // The swatch is a little SVG too: its colour is an attribute, which the page's style policy allows.
  const legend = h("ul", { class: "chart-legend" }, series.map((one, k) =>
    h("li", {}, s("svg", { class: "swatch", width: 10, height: 10, viewBox: "0 0 10 10", "aria-hidden": "true" },
        s("rect", { width: 10, height: 10, rx: 2, fill: one.color || palette[k % palette.length] })),
      ` ${one.label}: `, one.href ? h("a", { href: one.href }, String(totals[k])) : String(totals[k]))));
  return h("figure", { class: "chart" }, h("figcaption", {}, title), h("div", { class: "chart-box" }, svg), legend, numbers);
}
