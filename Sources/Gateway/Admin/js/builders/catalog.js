// The connected Kommo account's catalog (pipelines and stages, users, custom fields, tags, task types) and
// the pickers that offer its entries by name. Without a connected account (or before the gateway serves the
// catalog) every picker is a plain id field, so nothing the builders edit depends on the catalog being there.

import { h } from "../dom.js";
import { api, url, session } from "../api.js";

const empty = () => ({
  connected: false, account: null, refreshed_at: null, pipelines: [], users: [],
  custom_fields: { leads: [], contacts: [], companies: [] }, tags: { leads: [], contacts: [], companies: [] }, task_types: [],
});

let cached = null;
let cachedFor = "";
let cachedAt = 0;
let served = null;

/**
 * Whether this gateway serves the catalog, from its API document (read once): a gateway of an older
 * version answers the catalog's path with a 404, which the page need not provoke.
 */
function catalogServed() {
  if (!served) {
    served = api.get(url`/api/v1/openapi.json`)
      .then((r) => Object.keys((r.data && r.data.paths) || {}).some((path) => path.endsWith("/kommo/catalog")))
      .catch(() => false);
  }
  return served;
}

/** The catalog, read once a minute per API key; without one (or on an error) the empty, disconnected one. */
export function loadCatalog() {
  const fresh = cached && cachedFor === session.key && Date.now() - cachedAt < 60_000;
  if (!fresh) {
    cachedFor = session.key;
    cachedAt = Date.now();
    cached = catalogServed().then((yes) => (yes ? api.get(url`/api/v1/kommo/catalog`).then((r) => normalize(r.data)) : empty())).catch(() => empty());
  }
  return cached;
}

function normalize(data) {
  const base = empty();
  if (!data || typeof data !== "object") return base;
  const list = (v) => (Array.isArray(v) ? v : []);
  const byEntity = (v) => ({ leads: list(v && v.leads), contacts: list(v && v.contacts), companies: list(v && v.companies) });
  // An account connected (a pasted token, say) whose catalog was never read has no names to offer: its ids
  // are typed in, as without an account, until the catalog is read.
  return {
    connected: Boolean(data.connected) && Boolean(data.refreshed_at), account: data.account || null, refreshed_at: data.refreshed_at || null,
    pipelines: list(data.pipelines).map((p) => ({ ...p, stages: list(p.stages) })),
    users: list(data.users), custom_fields: byEntity(data.custom_fields), tags: byEntity(data.tags), task_types: list(data.task_types),
  };
}

/** Look-ups by id over a loaded catalog. */
export function names(catalog) {
  const pipelines = new Map(catalog.pipelines.map((p) => [Number(p.id), p]));
  const stages = new Map();
  for (const p of catalog.pipelines) for (const s of p.stages) if (!stages.has(Number(s.id)) || s.id === 142 || s.id === 143) stages.set(Number(s.id), { ...s, pipeline: p });
  const users = new Map(catalog.users.map((u) => [Number(u.id), u]));
  return {
    pipeline: (id) => (pipelines.get(Number(id)) || {}).name,
    stage: (id) => { const s = stages.get(Number(id)); return s ? (Number(id) === 142 || Number(id) === 143 ? s.name : `${s.pipeline.name} · ${s.name}`) : undefined; },
    user: (id) => (users.get(Number(id)) || {}).name,
    stageRecord: (id) => stages.get(Number(id)),
  };
}

/** "Name (#id)" when the catalog knows the id, else "#id". */
export function label(name, id) {
  return name ? `${name} (#${id})` : `#${id}`;
}

const idList = (value) => (Array.isArray(value) ? value : value === undefined || value === null || value === "" ? [] : [value]).map(Number);

/**
 * A picker for Kommo ids. `kind` is `pipeline`, `stage`, `user` or `task_type`; `multiple` gives a list.
 * Connected: a `<select>` of names (stages grouped by pipeline, limited to `pipelineID` when given), keeping
 * an id the catalog does not know as its own option. Disconnected: a text field of comma-separated ids.
 * `onchange(value)` gets a number (or `undefined` when cleared), or an array of numbers.
 */
export function idPicker(catalog, kind, value, { multiple = false, pipelineID, optional = false, onchange, label: aria } = {}) {
  const current = idList(value);
  if (!catalog.connected) {
    const box = h("input", { type: "text", inputmode: "numeric", value: current.join(", "), placeholder: multiple ? "ids, comma-separated" : "id", spellcheck: "false" });
    box.dataset.picker = kind;
    box.addEventListener("input", () => {
      const parts = box.value.split(",").map((s) => s.trim()).filter(Boolean);
      const numbers = parts.filter((p) => /^\d+$/.test(p)).map(Number);
      // A part that is not a number is kept out of the document; the server would refuse it anyway.
      box.setCustomValidity(numbers.length === parts.length ? "" : "ids are whole numbers");
      onchange && onchange(multiple ? numbers : numbers[0]);
    });
    return box;
  }
  const options = [];
  const known = new Set();
  const option = (id, text) => { known.add(Number(id)); return h("option", { value: String(id), selected: current.includes(Number(id)) }, text); };
  if (!multiple) options.push(h("option", { value: "", selected: !current.length }, optional ? "any" : "— choose —"));
  if (kind === "pipeline") {
    for (const p of catalog.pipelines) options.push(option(p.id, p.name));
  } else if (kind === "stage") {
    const pipelines = catalog.pipelines.filter((p) => !pipelineID || Number(p.id) === Number(pipelineID));
    for (const p of pipelines) {
      options.push(h("optgroup", { label: p.name }, p.stages.filter((s) => !known.has(Number(s.id))).map((s) => option(s.id, s.name))));
    }
  } else if (kind === "user") {
    for (const u of catalog.users) options.push(option(u.id, u.name));
  } else if (kind === "task_type") {
    const types = catalog.task_types.length ? catalog.task_types : [{ id: 1, name: "Call" }, { id: 2, name: "Meeting" }];
    for (const t of types) options.push(option(t.id, t.name));
  }
  for (const id of current) if (!known.has(id)) options.push(option(id, `#${id} (not in the account)`));
  // A list tall enough for its rows: every option and every pipeline's heading.
  const rows = options.reduce((n, o) => n + (o.tagName === "OPTGROUP" ? 1 + o.children.length : 1), 0);
  const choice = h("select", { multiple, size: multiple ? Math.min(8, Math.max(3, rows)) : undefined }, options);
  choice.dataset.picker = kind;
  choice.addEventListener("change", () => {
    const picked = Array.from(choice.selectedOptions).map((o) => o.value).filter(Boolean).map(Number);
    onchange && onchange(multiple ? picked : picked[0]);
  });
  return choice;
}

/** Field references the account's custom fields offer (`cf.Budget`, `contact.cf.Email`), plus the plain ones. */
export function fieldSuggestions(catalog) {
  const plain = ["name", "price", "status_id", "pipeline_id", "responsible_user_id", "contact.name", "contact.phone", "contact.email"];
  const custom = [
    ...catalog.custom_fields.leads.map((f) => ({ ref: `cf.${f.name}`, field: f })),
    ...catalog.custom_fields.contacts.map((f) => ({ ref: `contact.cf.${f.name}`, field: f })),
    ...catalog.custom_fields.companies.map((f) => ({ ref: `company.cf.${f.name}`, field: f })),
  ];
  return { plain, custom };
}

/** The custom field a reference names (`cf.Budget`, `cf.123`, `contact.cf.Email`), if the catalog has it. */
export function customField(catalog, reference) {
  const text = String(reference || "").trim();
  const match = /^(?:(lead|contact|company)\.)?cf\.(.+)$/i.exec(text);
  if (!match) return undefined;
  const entity = { lead: "leads", contact: "contacts", company: "companies" }[(match[1] || "lead").toLowerCase()];
  const key = match[2].trim().toLowerCase();
  return catalog.custom_fields[entity].find((f) => String(f.id) === key || String(f.name).toLowerCase() === key || String(f.code || "").toLowerCase() === key);
}

let listCounter = 0;
/** A `<datalist>` of suggestions and the id to put in an input's `list`. */
export function datalist(values) {
  const id = `dl-${++listCounter}`;
  return { id, element: h("datalist", { id }, values.map((v) => h("option", { value: v }))) };
}

/**
 * Runs a redraw that replaces controls, then puts the keyboard focus back on the control with the same
 * label or form path, with its caret and selection (a catalog that arrives late must not pull the focus
 * away from what the user is on, nor swallow what they type next).
 */
export function keepingFocus(redraw) {
  const active = document.activeElement;
  const keyOf = (element) => element.getAttribute("aria-label") || element.getAttribute("name") || element.id || "";
  const key = active && active !== document.body ? keyOf(active) : "";
  const selection = active && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd, active.selectionDirection] : null;
  redraw();
  if (!key || document.activeElement === active && active.isConnected) return;
  const again = [...document.querySelectorAll("[aria-label], [name], [id]")].find((element) => keyOf(element) === key);
  if (!again) return;
  again.focus();
  if (selection && typeof again.setSelectionRange === "function") {
    try { again.setSelectionRange(...selection); } catch { /* not a text control */ }
  }
}
