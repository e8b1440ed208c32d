// An agent's knowledge base: the documents AI replies are grounded in (upload a file or paste the text),
// each one's edit form with re-index and delete, and a search preview showing which chunks a client's
// question finds.

import { h, replace, badge, table, time, link, field, input, textarea, select, checkbox, notice, clearErrors, showErrors, errorView } from "../dom.js";
import { api, url, pagedList } from "../api.js";
import { formCard, saveOnSubmit, showSaved, titleRow, deleteButton, takeFlash } from "./forms.js";
import { agentHeader } from "./agents.js";

const formats = ["text", "markdown", "html", "csv", "pdf"];

/** The format a file's name suggests. */
function formatOf(name) {
  const extension = (name.split(".").pop() || "").toLowerCase();
  return { md: "markdown", markdown: "markdown", html: "html", htm: "html", csv: "csv", pdf: "pdf" }[extension] || "text";
}

/** A file's bytes in base64, for a PDF the gateway reads into text. */
async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export async function knowledgePage(page, { id }) {
  await agentHeader(page, id, "/knowledge");
  const formSlot = h("div", {});
  const list = h("div", {});
  replace(list, pagedList((cursor) => api.get(url`/api/v1/agents/${id}/knowledge`, { cursor, limit: 50 }).then((r) => r.data), (items) => table([
    { title: "Title", cell: (d) => link(`#/agents/${encodeURIComponent(id)}/knowledge/${encodeURIComponent(d.id)}`, d.title) },
    { title: "Format", cell: (d) => h("code", {}, d.format) },
    { title: "Active", cell: (d) => badge(d.active === false ? "disabled" : "active") },
    { title: "Chunks", cell: (d) => String(d.chunk_count ?? "") },
    { title: "Version", cell: (d) => String(d.version ?? "") },
    { title: "Updated", cell: (d) => time(d.updated_at) },
  ], items, "No documents yet: add the answers to your clients' usual questions.")));
  page.append(
    titleRow(h("h2", {}, "Knowledge base"), "New document", formSlot, (done) => documentForm(id, null, "", done),
      (d) => `#/agents/${encodeURIComponent(id)}/knowledge/${encodeURIComponent(d.id)}`),
    h("p", { class: "muted" }, "AI replies quote these documents: the template provider answers a question from the chunk that holds its words, an OpenAI-compatible model gets the best chunks with their sources."),
    formSlot, list, searchCard(id));
}

export async function knowledgeDocumentPage(page, { id, docId }) {
  await agentHeader(page, id, "/knowledge");
  const answer = await api.get(url`/api/v1/agents/${id}/knowledge/${docId}`);
  let document = answer.data;
  let etag = answer.etag;
  const formSlot = h("div", {});
  const facts = h("p", { class: "muted" });
  const drawFacts = () => replace(facts, `Version ${document.version}, cut into ${document.chunk_count} chunk${document.chunk_count === 1 ? "" : "s"}.`);
  const drawForm = () => replace(formSlot, documentForm(id, document, etag, (saved, tag) => {
    document = saved; etag = tag; drawForm(); drawFacts();
    showSaved(formSlot.querySelector(".form-errors"), saved);
  }));
  drawForm();
  drawFacts();
  takeFlash(formSlot.querySelector(".form-errors"), document.id);
  const reindex = h("button", { type: "button" }, "Re-index");
  reindex.addEventListener("click", async () => {
    try {
      const saved = await api.post(url`/api/v1/agents/${id}/knowledge/${docId}/reindex`, {});
      document = saved.data; etag = saved.etag; drawFacts();
      replace(formSlot.querySelector(".form-errors"), notice("ok", "Indexed again."));
    } catch (error) { formSlot.prepend(errorView(error)); }
  });
  page.append(
    h("p", { class: "crumbs" }, link(`#/agents/${encodeURIComponent(id)}/knowledge`, "All documents")),
    facts,
    h("div", { class: "actions" }, reindex, deleteButton("Delete document", {
      question: () => `Delete the document "${document.title}"?`, remove: () => api.delete(url`/api/v1/agents/${id}/knowledge/${docId}`),
      back: `#/agents/${encodeURIComponent(id)}/knowledge`, onError: (view) => formSlot.prepend(view) })),
    formSlot, searchCard(id));
}

function documentForm(agentID, document, etag, done) {
  const d = document || { format: "markdown", active: true };
  const title = input({ value: d.title || "" });
  const format = select(formats, d.format || "text");
  const source = input({ value: d.source || "", placeholder: "https://… or a file name" });
  const page = input({ type: "url", value: d.url || "", placeholder: "https://shop.example/faq" });
  const active = checkbox(d.active !== false);
  const content = textarea({ rows: 12 });
  content.value = d.content || "";
  const file = h("input", { type: "file", accept: ".txt,.md,.markdown,.html,.htm,.csv,.pdf,text/*,application/pdf" });
  // A chosen PDF is sent as it is (content_base64) and read into text by the gateway on save.
  let pdf = null;
  file.addEventListener("change", async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    format.value = formatOf(chosen.name);
    if (format.value === "pdf") {
      pdf = await base64Of(chosen);
      content.value = "";
      content.placeholder = `${chosen.name}: its text is read when you save`;
    } else {
      pdf = null;
      content.value = await chosen.text();
    }
    if (!title.value.trim()) title.value = chosen.name.replace(/\.[^.]+$/, "");
    if (!source.value.trim()) source.value = chosen.name;
  });
  const form = formCard(document ? "Edit document" : "New document",
    h("div", { class: "grid" },
      field("Title", title, { name: "title" }),
      field("Format", format, { name: "format" }),
      field("Source", source, { name: "source" }),
      field("Active", active, { name: "active", hint: "Inactive documents are not searched." })),
    field("Fetch from a URL", page, { name: "url", hint: "The page (HTML, Markdown, text, CSV or PDF) becomes the text when you save; Re-index fetches it again." }),
    field("Upload a file", file, { name: "content_base64", hint: "Plain text, Markdown, HTML or a CSV product list fills the text below; a PDF is read into text when you save, each page under its own heading." }),
    field("Text", content, { name: "content", hint: "Markdown and HTML headings become the chunks' headings; a CSV is one chunk per row; a PDF's pages are headed \"Page N\"." }),
    h("button", { type: "submit", class: "primary" }, document ? "Save (new version)" : "Add document"));
  saveOnSubmit(form, {
    create: (value, options) => api.post(url`/api/v1/agents/${agentID}/knowledge`, value, options),
    update: document && ((value, options) => api.patch(url`/api/v1/agents/${agentID}/knowledge/${document.id}`, value, options)), etag, done,
    reread: document && (() => api.get(url`/api/v1/agents/${agentID}/knowledge/${document.id}`)),
    body() {
      const value = { title: title.value, format: format.value, active: active.checked };
      const fetchedURL = page.value.trim();
      const refetch = fetchedURL && (!document || fetchedURL !== document.url || !content.value.trim());
      if (refetch) value.url = fetchedURL;
      else if (pdf && format.value === "pdf") value.content_base64 = pdf;
      else value.content = content.value;
      if (refetch) delete value.format;
      if (!fetchedURL && document && document.url) value.url = null;
      if (source.value.trim()) value.source = source.value.trim();
      else if (document && document.source) value.source = null;
      return value;
    },
  });
  return form;
}

/** Which chunks a client's question finds, ranked, with how much of the question each holds. */
function searchCard(agentID) {
  const q = input({ type: "search", placeholder: "Do you deliver to Valencia?" });
  const result = h("div", {});
  const form = h("form", { class: "card" },
    h("h2", {}, "Try a question"),
    h("div", { class: "form-errors" }),
    field("Question", q, { name: "q" }),
    h("button", { type: "submit" }, "Search"),
    result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    replace(result);
    try {
      const answer = (await api.get(url`/api/v1/agents/${agentID}/knowledge/search`, { q: q.value })).data;
      replace(result,
        h("p", { class: "muted small" }, (answer.terms || []).length ? `Words searched: ${answer.terms.join(", ")}` : "No significant words in the question."),
        table([
          { title: "Document", cell: (c) => link(`#/agents/${encodeURIComponent(agentID)}/knowledge/${encodeURIComponent(c.document_id)}`, `${c.title} v${c.version} #${c.chunk}`) },
          { title: "Heading", cell: (c) => c.heading },
          { title: "Text", cell: (c) => h("span", { class: "clip" }, c.text) },
          { title: "Score", cell: (c) => String(Math.round(c.score * 100) / 100) },
          { title: "Covers", cell: (c) => `${Math.round(c.coverage * 100)}%` },
        ], answer.items || [], "Nothing found: a reply to this question would come from the scripts."));
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}
