// What the list, detail and create-or-edit views of the pages share: a list's title row with its "New …"
// button, a delete button that goes back to the list, and for the forms the card with its title and the slot the server's
// errors go to, a submit that shows those errors next to the fields, and saving as a create (POST with
// one idempotency key per form, so a double submit creates one) or an update (PATCH with If-Match).

import { h, replace, button, notice, errorView, showErrors, clearErrors } from "../dom.js";
import { newIdempotencyKey } from "../api.js";

/** A form card: the title, the slot for the server's errors, then `children`. */
export function formCard(title, ...children) {
  return h("form", { class: "card" }, h("h2", {}, title), h("div", { class: "form-errors" }), ...children);
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
 * Saves on submit: `body()` builds the request (throwing a field error if the input is wrong); with
 * `update` (an existing resource) it is sent as `update(body, { ifMatch: etag })`, else as
 * `create(body, { idempotencyKey })`. `done(data, etag)` gets the stored resource. The callers spell
 * their calls as `api.<method>(url`…`)`, the one form of an API call in the UI.
 */
export function saveOnSubmit(form, { create, update, etag, body, done }) {
  const idempotencyKey = newIdempotencyKey();
  onSubmit(form, async () => {
    const value = body();
    const answer = update ? await update(value, { ifMatch: etag }) : await create(value, { idempotencyKey });
    done(answer.data, answer.etag);
  });
}

/** The "Saved." notice in the form's error slot, with the warnings the server sent about `saved`. */
export function showSaved(box, saved) {
  replace(box, notice("ok", "Saved."), (saved.warnings || []).map((w) => notice("info", `${w.field}: ${w.message}`)));
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
