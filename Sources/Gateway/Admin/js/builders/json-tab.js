// The "JSON (advanced)" tab of the builders: the document as text, edited with CodeMirror where the
// gateway's machine has it (`codeEditor()`), else in the textarea itself.

import { h, replace } from "../dom.js";
import { codeEditor } from "../charts.js";

/** The tab's panel, with `get()` / `set(text)` of its text and `showError(message)`. */
export function jsonTab(label) {
  const textarea = h("textarea", { rows: 22, class: "code", spellcheck: "false", "aria-label": label });
  const error = h("div", { class: "field-error", role: "alert" });
  const panel = h("div", { class: "tab-panel", role: "tabpanel", hidden: true },
    h("div", { class: "field", "data-field": "json" }, h("label", {}, `${label} (the REST body)`), textarea, error));
  let editor = null;
  codeEditor(textarea, { label }).then((made) => { editor = made; if (editor && !panel.hidden) editor.refresh(); });
  panel.get = () => (editor ? editor.getValue() : textarea.value);
  panel.set = (text) => { if (editor) editor.setValue(text); else textarea.value = text; };
  panel.showError = (message) => replace(error, message || "");
  // CodeMirror measures itself when it becomes visible.
  panel.onShown = () => { if (editor) editor.refresh(); };
  textarea.addEventListener("input", () => {
    try { JSON.parse(panel.get()); replace(error); } catch (e) { replace(error, `Not valid JSON: ${e.message}`); }
  });
  return panel;
}
