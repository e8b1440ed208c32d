// Building the page. Every element is made with DOM calls and every piece of data goes in as a text
// node or an attribute value, never as markup: nothing an API returns can become HTML or script.

/** `h("tr", {class: "x", onclick: fn}, "text", child)`: an element with attributes, handlers and children. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "value" && "value" in element) {
      element.value = String(value);
    } else if (name === "checked" || name === "disabled" || name === "selected") {
      element[name] = Boolean(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children: nodes as they are, everything else as text; arrays flatten, null and false are skipped. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces what `parent` shows. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** An RFC 3339 time in the browser's locale, with the raw value as a tooltip. */
export function time(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return h("time", { datetime: value, title: value }, date.toLocaleString());
}

const goodStates = new Set(["ready", "active", "delivered", "done", "succeeded", "processed", "accepted", "fired", "ok", "enabled", "completed", "sent"]);
const badStates = new Set(["unavailable", "failed", "rejected", "unparsed", "suspended", "cancelled", "error", "dead", "blocked"]);
const waitStates = new Set(["pending", "paused", "draft", "waiting", "retrying", "skipped", "scheduled", "duplicate", "disabled", "archived"]);

/** A coloured label for a status word. */
export function badge(text) {
  const word = String(text ?? "");
  const kind = goodStates.has(word) ? "good" : badStates.has(word) ? "bad" : waitStates.has(word) ? "wait" : "plain";
  return h("span", { class: `badge ${kind}` }, word || "—");
}

/** JSON for people: `type`, `id` and `name` first, two-space indents. */
export function pretty(value) {
  const first = ["type", "id", "name"];
  const order = (v) => {
    if (Array.isArray(v)) return v.map(order);
    if (!v || typeof v !== "object") return v;
    const keys = Object.keys(v).sort((a, b) => (first.indexOf(a) + 1 || 99) - (first.indexOf(b) + 1 || 99));
    return Object.fromEntries(keys.map((k) => [k, order(v[k])]));
  };
  return JSON.stringify(order(value), null, 2);
}

/** JSON shown as text. */
export function jsonBlock(value) {
  // Focusable: a long document scrolls inside its box, from the keyboard too.
  return h("pre", { class: "json", tabindex: "0" }, pretty(value));
}

/** A collapsible block. */
export function details(summary, ...content) {
  return h("details", {}, h("summary", {}, summary), ...content);
}

/**
 * A table of `rows` with `columns` = [{title, cell: row => node|string}].
 * An empty list shows `empty` instead.
 */
export function table(columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  // Focusable, so a table wider than the screen can be scrolled from the keyboard.
  return h("div", { class: "table-wrap", tabindex: "0" },
    h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.title)))),
      // Each cell names its column, for the stacked rows of a narrow screen.
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { "data-label": c.title }, c.cell(row))))))));
}

/** A link inside the app. */
export function link(hash, text) {
  return h("a", { href: hash }, text);
}

/** A button; `onclick` may be async, and the button is disabled while it runs. */
export function button(text, onclick, { kind = "", title, label } = {}) {
  const element = h("button", { type: "button", class: kind, title, "aria-label": label });
  element.textContent = text;
  element.addEventListener("click", async (event) => {
    event.preventDefault();
    element.disabled = true;
    try { await onclick(event); } finally { element.disabled = false; }
  });
  return element;
}

/** A labelled form field; `name` ties it to the server's field-level errors. */
export function field(label, input, { name, hint, extra } = {}) {
  if (name) input.setAttribute("name", name);
  const id = `f-${Math.random().toString(36).slice(2, 10)}`;
  input.id = id;
  return h("div", { class: "field", "data-field": name || "" },
    h("label", { for: id }, label),
    input,
    extra || null,
    hint ? h("small", { class: "hint" }, hint) : null,
    h("div", { class: "field-error", role: "alert" }));
}

export function input(attributes = {}) { return h("input", { type: "text", ...attributes }); }
export function textarea(attributes = {}) { return h("textarea", { rows: 4, ...attributes }); }
export function select(options, value, attributes = {}) {
  return h("select", attributes, options.map((o) => {
    const [optionValue, text] = Array.isArray(o) ? o : [o, o === "" ? "any" : o];
    return h("option", { value: optionValue, selected: optionValue === value }, text);
  }));
}
export function checkbox(checked, attributes = {}) { return h("input", { type: "checkbox", checked, ...attributes }); }

/** A message box: `kind` is info, ok or error. */
export function notice(kind, ...content) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...content);
}

/**
 * Shows an API error next to the fields it names (`errors[].field`: `name`, `trigger.stage_id`,
 * `conditions.all[1].origins`, matched by their first part) and the rest at the top of the form.
 */
export function showErrors(form, error) {
  clearErrors(form);
  const box = form.querySelector(".form-errors");
  const problem = error && error.problem;
  if (!problem) { if (box) replace(box, notice("error", String(error && error.message || error))); return; }
  const leftover = [];
  for (const violation of problem.errors || []) {
    const path = String(violation.field || "");
    const { slot, exact } = slotFor(form, path);
    if (slot) {
      slot.append(h("div", {}, exact ? violation.message : `${path}: ${violation.message}`));
      const owner = slot.closest(".field");
      if (owner) owner.classList.add("invalid");
    } else {
      leftover.push(violation);
    }
  }
  if (box) replace(box, problemView(problem, leftover));
}

/**
 * The error slot of the control of `path`, else of the nearest enclosing one (`conditions.all[1].stage_ids[0]`
 * goes to `conditions.all[1].stage_ids`, then `conditions.all[1]`, … `conditions`); none when it is hidden.
 */
function slotFor(form, path) {
  let slot = null;
  let at = path;
  while (at) {
    slot = form.querySelector(`[data-field="${cssEscape(at)}"] > .field-error`);
    if (slot) break;
    const shorter = at.replace(/(\[\d+\]|\.[^.[\]]*)$/, "");
    if (shorter === at) break;
    at = shorter;
  }
  return { slot: slot && !slot.closest("[hidden]") ? slot : null, exact: at === path, at };
}

/**
 * Shows the server's warnings (`[{field, message}]`: saved, but e.g. an id the Kommo account does not
 * have) at the fields they name, as showErrors does for errors but without marking the field invalid.
 * Returns the warnings no visible field took.
 */
export function showWarnings(form, warnings) {
  const leftover = [];
  for (const warning of warnings || []) {
    const path = String(warning.field || "");
    const { slot, exact, at } = slotFor(form, path);
    if (!slot) { leftover.push(warning); continue; }
    // One id of a list (`stage_ids[1]`) at the list's control: the message names the id itself.
    const plain = exact || path.replace(/\[\d+\]$/, "") === at;
    slot.append(h("div", { class: "field-warning" }, "Warning: ", plain ? warning.message : `${path}: ${warning.message}`));
    const owner = slot.closest(".field");
    if (owner) owner.classList.add("warned");
  }
  return leftover;
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll(".field-error")) slot.replaceChildren();
  for (const invalid of form.querySelectorAll(".field.invalid, .field.warned")) invalid.classList.remove("invalid", "warned");
  const box = form.querySelector(".form-errors");
  if (box) box.replaceChildren();
}

/** A problem document (RFC 9457) for people: title, detail, the field errors, the request id. */
export function problemView(problem, violations = problem.errors || []) {
  return notice("error",
    h("strong", {}, `${problem.status || ""} ${problem.title || "Error"}`.trim()),
    problem.detail ? h("div", {}, problem.detail) : null,
    problem.service ? h("div", {}, `Service: ${problem.service}`) : null,
    violations.length ? h("ul", {}, violations.map((v) => h("li", {}, h("code", {}, v.field), " ", v.message))) : null,
    problem.request_id ? h("div", { class: "muted small" }, `Request ${problem.request_id}`) : null);
}

/** Any error as a notice. */
export function errorView(error) {
  if (error && error.problem) return problemView(error.problem);
  return notice("error", String(error && error.message || error));
}

function cssEscape(text) {
  return window.CSS && CSS.escape ? CSS.escape(text) : text.replace(/["\\]/g, "\\$&");
}

/** Comma-separated text → list of trimmed, non-empty parts. */
export function splitList(text) {
  return String(text || "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** Comma-separated integers; a part that is not one is reported on `name`. */
export function splitIntegers(text, name) {
  return splitList(text).map((part) => {
    if (!/^\d+$/.test(part)) throw fieldError(name, `"${part}" is not a number`);
    return Number(part);
  });
}

/** A JSON textarea's value, or an error on its field. */
export function parseJSON(text, name, { optional = false } = {}) {
  const trimmed = String(text || "").trim();
  if (!trimmed) {
    if (optional) return undefined;
    throw fieldError(name, "is required");
  }
  try { return JSON.parse(trimmed); } catch (e) { throw fieldError(name, `is not valid JSON: ${e.message}`); }
}

/** An error shaped like the API's, for checks the browser makes before sending. */
export function fieldError(name, message) {
  const error = new Error(`${name}: ${message}`);
  error.problem = { status: "", title: "Check the form", detail: "", errors: [{ field: name, message }] };
  return error;
}

/** Copies text to the clipboard, when the browser allows it. */
export function copyButton(text) {
  return button("Copy", async () => { try { await navigator.clipboard.writeText(text); } catch { /* not allowed here */ } }, { kind: "small" });
}
