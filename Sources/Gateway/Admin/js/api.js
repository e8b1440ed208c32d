// Calls to the gateway's REST API. The tenant's API key (or, for the tenants page, the admin token)
// lives in sessionStorage only: it is gone when the tab closes and never leaves this origin.
//
// Every call names its route as a template literal tagged with `url`, `api.get(url`/api/v1/agents/${id}`)`:
// the tag percent-encodes the values, and the gateway's tests read these templates to check that each
// route the UI calls exists.

import { h, button, replace, append, errorView } from "./dom.js";

const KEY = "kommo-agents.api-key";
const ADMIN = "kommo-agents.admin-token";

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  get admin() { return sessionStorage.getItem(ADMIN) || ""; },
  set admin(value) { value ? sessionStorage.setItem(ADMIN, value) : sessionStorage.removeItem(ADMIN); },
};

/** Tag for route templates: encodes every interpolated value as one path segment. */
export function url(strings, ...values) {
  return strings.reduce((out, part, i) => out + part + (i < values.length ? encodeURIComponent(String(values[i])) : ""), "");
}

/** An answer other than 2xx; `problem` is the RFC 9457 document when the server sent one. */
export class APIError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `HTTP ${status}`);
    this.status = status;
    this.problem = problem || { status, title: `HTTP ${status}`, detail: "" };
  }
}

/** Listeners for a rejected key (401), so the app can ask for a new one. */
const unauthorizedHandlers = [];
export function onUnauthorized(handler) { unauthorizedHandlers.push(handler); }

async function request(method, path, { query, body, admin = false, ifMatch, idempotencyKey } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  const token = admin ? session.admin : session.key;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch) headers["If-Match"] = ifMatch;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let target = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const text = params.toString();
    if (text) target += `?${text}`;
  }
  let response;
  try {
    response = await fetch(target, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
  } catch (e) {
    throw new APIError(0, { status: 0, title: "Network error", detail: `The gateway did not answer: ${e.message}` });
  }
  const type = response.headers.get("Content-Type") || "";
  let data = null;
  if (response.status !== 204) {
    const text = await response.text();
    if (type.includes("json") && text) { try { data = JSON.parse(text); } catch { data = null; } }
    else if (text) data = text;
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : { status: response.status, title: response.statusText, detail: typeof data === "string" ? data : "" };
    if (response.status === 401) for (const handler of unauthorizedHandlers) handler(admin);
    throw new APIError(response.status, problem);
  }
  return { status: response.status, data, etag: response.headers.get("ETag") || "" };
}

export const api = {
  get: (path, query, options = {}) => request("GET", path, { ...options, query }),
  post: (path, body, options = {}) => request("POST", path, { ...options, body }),
  patch: (path, body, options = {}) => request("PATCH", path, { ...options, body }),
  delete: (path, query, options = {}) => request("DELETE", path, { ...options, query }),
};

/** A random Idempotency-Key for one create, so a double click does not create twice. */
export function newIdempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A paged list: `load(cursor)` returns `{items, next_cursor}`; `render(items)` makes the rows.
 * Shows the first page and a "Load more" button while the server gives a `next_cursor`.
 */
export function pagedList(load, render) {
  const container = h("div", { class: "paged" });
  const list = h("div", {});
  const more = h("div", { class: "more" });
  container.append(list, more);
  let all = [];
  async function page(cursor) {
    replace(more, h("span", { class: "muted" }, "Loading…"));
    try {
      const answer = await load(cursor);
      const items = (answer && answer.items) || [];
      all = all.concat(items);
      replace(list, render(all));
      replace(more);
      if (answer && answer.next_cursor) {
        append(more, button("Load more", () => page(answer.next_cursor)));
      }
    } catch (error) {
      replace(more, errorView(error));
    }
  }
  page(undefined);
  return container;
}
