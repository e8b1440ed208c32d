// Small controls the builders share: a labelled field tied to a document path (so the server's error on
// that path lands under it), a duration as number + unit, a comma-separated list, and a select of words.

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
