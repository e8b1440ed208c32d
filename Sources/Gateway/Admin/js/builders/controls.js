// Small controls the builders share: a labelled field tied to a document path (so the server's error on
// that path lands under it), a duration as number + unit, a comma-separated list, a select of words, and
// working hours (days of the week, from/until and a time zone) as the send window and conditions hold them.

import { h, field } from "../dom.js";

/** A labelled control whose `data-field` is the JSON path it edits, e.g. `conditions.all[1].stage_ids`. */
export function pathField(label, control, path, hint) {
  return field(label, control, { name: path, hint });
}

/** A `<select>` of `[value, text]` pairs (or plain words); `onchange(value)`. */
export function choose(options, value, onchange, attributes = {}) {
  const element = h("select", attributes, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    return h("option", { value: v, selected: String(v) === String(value ?? "") }, text);
  }));
  element.addEventListener("change", () => onchange(element.value));
  return element;
}

/** A text field; `onchange(text)` on every keystroke. */
export function text(value, onchange, attributes = {}) {
  const element = h("input", { type: "text", value: value ?? "", ...attributes });
  element.addEventListener("input", () => onchange(element.value));
  return element;
}

/** A number field; `onchange(number | undefined)`. */
export function number(value, onchange, attributes = {}) {
  const element = h("input", { type: "number", value: value ?? "", ...attributes });
  element.addEventListener("input", () => onchange(element.value === "" ? undefined : Number(element.value)));
  return element;
}

/** A comma-separated list of words; `onchange([words])`. */
export function words(list, onchange, attributes = {}) {
  const element = h("input", { type: "text", value: (list || []).join(", "), spellcheck: "false", ...attributes });
  element.addEventListener("input", () => onchange(element.value.split(",").map((s) => s.trim()).filter(Boolean)));
  return element;
}

export const units = [["60", "minutes"], ["3600", "hours"], ["86400", "days"]];

/** The largest unit that divides `seconds` (minutes when none does, keeping fractions visible). */
export function splitDuration(seconds) {
  const s = Number(seconds || 0);
  for (const factor of [86400, 3600, 60]) if (s && s % factor === 0) return { amount: s / factor, factor };
  return { amount: s ? s / 60 : 0, factor: s ? 60 : 3600 };
}

/**
 * A duration as a number and a unit (minutes, hours, days), labelled `label`; `onchange(seconds)`.
 * Returns the group; its number input carries `path` for errors.
 */
export function duration(label, seconds, onchange, path, { hint } = {}) {
  const { amount, factor } = splitDuration(seconds);
  const amountBox = h("input", { type: "number", min: 0, step: "any", value: amount });
  const unit = h("select", { "aria-label": `${label}: unit` }, units.map(([v, t]) => h("option", { value: v, selected: Number(v) === factor }, t)));
  const emit = () => onchange(amountBox.value === "" ? undefined : Math.round(Number(amountBox.value) * Number(unit.value)));
  amountBox.addEventListener("input", emit);
  unit.addEventListener("change", emit);
  const wrapper = pathField(label, amountBox, path, hint);
  const row = h("div", { class: "duration" });
  amountBox.replaceWith(row);
  row.append(amountBox, unit);
  return wrapper;
}

/** The days of the week as working hours name them in JSON, Monday first, with their labels. */
export const weekdays = [["mon", "Mon"], ["tue", "Tue"], ["wed", "Wed"], ["thu", "Thu"], ["fri", "Fri"], ["sat", "Sat"], ["sun", "Sun"]];

/** Working hours a new window or condition starts with: weekdays 09:00–18:00 in the browser's zone. */
export function defaultHours() {
  return { time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "18:00" };
}

/**
 * The controls of working hours `{time_zone, days, start, end}` at `path` (e.g. `send_window` or
 * `conditions.all[0].hours`): a time zone with the browser's zones to pick from, from and until, and a
 * checkbox per day. Edits change `hours` in place and call `changed()`. Days stored as numbers (1 =
 * Monday) are shown too, and written back as names once a day is ticked or unticked.
 */
export function hoursControls(hours, path, changed) {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const listID = `zones-${Math.random().toString(36).slice(2, 8)}`;
  const chosen = () => new Set((hours.days || []).map((d) => (typeof d === "number" ? (weekdays[d - 1] || [])[0] : String(d).toLowerCase().slice(0, 3))));
  const dayBoxes = weekdays.map(([value, label]) => {
    const box = h("input", { type: "checkbox", checked: chosen().has(value), value });
    box.addEventListener("change", () => {
      const now = chosen();
      if (box.checked) now.add(value); else now.delete(value);
      hours.days = weekdays.map(([d]) => d).filter((d) => now.has(d));
      changed();
    });
    return h("label", { class: "check" }, box, " ", label);
  });
  return [
    h("div", { class: "grid" },
      pathField("Time zone", text(hours.time_zone, (v) => { hours.time_zone = v; changed(); }, { list: listID, spellcheck: "false" }), `${path}.time_zone`, "e.g. Europe/Madrid"),
      h("datalist", { id: listID }, zones.map((z) => h("option", { value: z }))),
      pathField("From", text(hours.start, (v) => { hours.start = v; changed(); }, { type: "time" }), `${path}.start`),
      pathField("Until", text(hours.end, (v) => { hours.end = v; changed(); }, { type: "time" }), `${path}.end`, "Earlier than From: across midnight.")),
    h("div", { class: "field", "data-field": `${path}.days` }, h("span", { class: "label" }, "Days"), h("div", { class: "checks" }, dayBoxes),
      h("div", { class: "field-error", role: "alert" })),
  ];
}
