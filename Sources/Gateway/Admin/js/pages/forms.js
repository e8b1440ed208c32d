// What the list, detail and create-or-edit views of the pages share: a list's title row with its "New …"
// button, a delete button that goes back to the list, and for the forms the card with its title and the slot the server's
// errors go to, a submit that shows those errors next to the fields, and saving as a create (POST with
// one idempotency key per form, so a double submit creates one) or an update (PATCH with If-Match).

import { h, replace, button, notice, errorView, showErrors, showWarnings, clearErrors } from "../dom.js";
import { newIdempotencyKey } from "../api.js";
import { loadCatalog } from "../builders/catalog.js";

/** A form card: the title, the slot for the server's errors, then `children`. */
export function formCard(title, ...children) {
  // The server checks every field and names each problem at its field, all at once; the browser's own
  // checks would stop at the first, in a bubble of their own.
  return h("form", { class: "card", novalidate: true }, h("h2", {}, title), h("div", { class: "form-errors" }), ...children);
}

/** Runs `submit` when the form is sent; what it throws is shown in the form. */
export function onSubmit(form, submit) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await submit();
    } catch (error) {
      showErrors(form, error);
      focusFirstInvalid(form);
    }
  });
}

/** Moves the focus to the first field the errors name, or to the error box when they name none. */
export function focusFirstInvalid(form) {
  const control = form.querySelector(".field.invalid input, .field.invalid select, .field.invalid textarea");
  if (control) { control.focus(); return; }
  const box = form.querySelector(".form-errors");
  if (box && box.firstChild) { box.setAttribute("tabindex", "-1"); box.focus(); }
}

/** Puts the focus on a new form's first control, so typing starts there. */
export function focusFirstControl(form) {
  const control = form.querySelector("input:not([type=hidden]), select, textarea");
  if (control) control.focus();
}

/**
 * Saves on submit — the one save of every form, the rule and sequence builders included:
 * - `body(current)` builds the request (throwing a field error if the input is wrong); `current` is the
 *   stored resource when overwriting after a conflict, so a patch can be taken against what is stored now.
 * - with `update` (an existing resource) it is sent as `update(body, { ifMatch })`, else as
 *   `create(body, { idempotencyKey })` (one key per form, so a double submit creates one).
 *   `etag` is the version the form edits: a string, or a function when the page moves it on (a status
 *   change made beside the form).
 * - `prepare()` runs first; false stops the save (it said why itself, e.g. a JSON tab that does not parse).
 * - a save that changes nothing sends nothing and says so: `unchanged(body)` decides, by default the
 *   body equals the one the form started with.
 * - an edit conflict (412) offers reload or overwrite; `reread()` reads the stored resource for that.
 * - `onError(error)` sees a refusal before it is shown (a builder shows its controls for field errors).
 * `done(data, etag)` gets the stored resource. Errors are cleared on every attempt and the focus goes to
 * the first invalid field. The callers spell their calls as `api.<method>(url`…`)`, the one form of an API
 * call in the UI.
 */
export function saveOnSubmit(form, { create, update, etag, body, done, reread, prepare, unchanged, onError }) {
  const idempotencyKey = newIdempotencyKey();
  const currentTag = () => (typeof etag === "function" ? etag() : etag);
  // What the form says before any edit: a save that changes nothing sends nothing (no new version).
  let initial = null;
  if (update && !unchanged) { try { initial = JSON.stringify(body()); } catch { initial = null; } }
  const isUnchanged = (value) => (unchanged ? unchanged(value) : initial !== null && JSON.stringify(value) === initial);
  onSubmit(form, async () => {
    if (prepare && prepare() === false) return;
    const value = body();
    if (update && isUnchanged(value)) {
      replace(form.querySelector(".form-errors"), notice("info", "Nothing changed: nothing was saved and no new version was made."));
      return;
    }
    try {
      const answer = update ? await update(value, { ifMatch: currentTag() }) : await create(value, { idempotencyKey });
      if (!update) flash(answer.data);
      done(answer.data, answer.etag);
    } catch (error) {
      if (update && error.status === 412) { conflict(form, { update, reread, done, body }); return; }
      if (onError) onError(error);
      throw error;
    }
  });
}

/**
 * Someone saved the same resource since this form was opened (412): offers to reload it (losing the
 * edits made here) or to overwrite it with what this form holds.
 */
function conflict(form, { update, reread, done, body }) {
  const box = form.querySelector(".form-errors");
  const reload = button("Reload (lose my edits)", () => { window.dispatchEvent(new HashChangeEvent("hashchange")); });
  const overwrite = reread ? button("Overwrite with my version", async () => {
    clearErrors(form);
    try {
      const current = await reread();
      const answer = await update(body(current.data), { ifMatch: current.etag });
      done(answer.data, answer.etag);
    } catch (error) {
      showErrors(form, error);
      focusFirstInvalid(form);
    }
  }, { kind: "danger" }) : null;
  replace(box, notice("error", h("strong", {}, "Changed elsewhere meanwhile. "),
    "Someone saved this since you opened it. Reload to see their version, or overwrite it with yours.",
    h("div", { class: "actions" }, reload, overwrite)));
  reload.focus();
}

/** The warnings a create answered with, kept for the page the create leads to. */
let flashed = null;
function flash(created) {
  flashed = created && (created.warnings || []).length ? { id: created.id, warnings: created.warnings } : null;
}

/**
 * On the page of what was just created: "Created." in the form's error slot `box`, with the warnings the
 * server sent (an undeclared variable, an id the Kommo account does not have) at their fields.
 */
export function takeFlash(box, id) {
  if (!box || !flashed || flashed.id !== id) return;
  const { warnings } = flashed;
  flashed = null;
  announce(box, "Created.", warnings);
}

/** The "Saved." notice in the form's error slot `box`, with the warnings the server sent about `saved` at their fields. */
export function showSaved(box, saved) {
  if (box) announce(box, "Saved.", saved.warnings || []);
}

/**
 * `done` in `box`, and each warning at the field it names (the rest under `done`). The builders and forms
 * redraw their controls once the Kommo catalog is read, so the warnings are placed after that redraw.
 */
function announce(box, done, warnings) {
  const count = warnings.length;
  replace(box, notice("ok", done, count ? ` ${count === 1 ? "One warning" : `${count} warnings`} (nothing was refused): see the marked ${count === 1 ? "field" : "fields"}.` : ""));
  if (!count) return;
  loadCatalog().then(() => {
    const form = box.closest("form");
    const leftover = form ? showWarnings(form, warnings) : warnings;
    box.append(...leftover.map((w) => notice("info", `Warning on ${w.field}: ${w.message}`)));
  });
}

/**
 * A list's title row: `heading` and a "New …" button that opens `newForm(done)` in `formSlot`; once the
 * new item is created, the page goes to `hashOf(created)`.
 */
export function titleRow(heading, label, formSlot, newForm, hashOf) {
  return h("div", { class: "title-row" }, heading,
    button(label, () => {
      const form = newForm((created) => { location.hash = hashOf(created); });
      replace(formSlot, form);
      focusFirstControl(form);
    }, { kind: "primary" }));
}

/** A button that calls `remove()` after `question()` is confirmed, then goes to `back`; a refusal goes to `onError`. */
export function deleteButton(label, { question, remove, back, onError }) {
  return button(label, async () => {
    if (!confirm(question())) return;
    try { await remove(); location.hash = back; }
    catch (error) { onError(errorView(error)); }
  }, { kind: "danger" });
}
