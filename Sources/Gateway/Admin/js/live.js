// A list that keeps itself up to date: the first page is asked for again every few seconds while the
// tab is visible (nothing is asked while it is hidden, and it catches up at once when it shows again),
// new items go on top and changed ones are redrawn in place. It stops by itself once its page is left.

import { h, replace, append, button, errorView } from "./dom.js";

/**
 * `load(cursor)` returns `{items, next_cursor}` (items newest first, each with an `id`); `render(items)`
 * draws them. Older pages come with "Load more" as in `pagedList`.
 */
export function liveList(load, render, { intervalMs = 3000, label = "Updates" } = {}) {
  const container = h("div", { class: "paged live" });
  const status = h("p", { class: "muted small live-status", role: "status", "aria-live": "polite" });
  const list = h("div", {});
  const more = h("div", { class: "more" });
  container.append(status, list, more);
  let items = [];
  let timer = null;
  let busy = false;
  let lastAt = null;

  const draw = () => replace(list, render(items));
  const say = (text) => { status.textContent = text; };
  const stamp = () => lastAt ? ` · last checked ${lastAt.toLocaleTimeString()}` : "";

  async function first() {
    const answer = await load(undefined);
    items = (answer && answer.items) || [];
    draw();
    replace(more);
    if (answer && answer.next_cursor) append(more, button("Load more", () => older(answer.next_cursor)));
  }

  async function older(cursor) {
    replace(more, h("span", { class: "muted" }, "Loading…"));
    try {
      const answer = await load(cursor);
      const known = new Set(items.map((i) => i.id));
      items = items.concat(((answer && answer.items) || []).filter((i) => !known.has(i.id)));
      draw();
      replace(more);
      if (answer && answer.next_cursor) append(more, button("Load more", () => older(answer.next_cursor)));
    } catch (error) {
      replace(more, errorView(error));
    }
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const answer = await load(undefined);
      const fresh = (answer && answer.items) || [];
      const byID = new Map(fresh.map((i) => [i.id, i]));
      const known = new Set(items.map((i) => i.id));
      const added = fresh.filter((i) => !known.has(i.id));
      const changed = items.some((i) => byID.has(i.id) && JSON.stringify(byID.get(i.id)) !== JSON.stringify(i));
      if (added.length || changed) {
        items = added.concat(items.map((i) => byID.get(i.id) || i));
        draw();
      }
      lastAt = new Date();
      say(`${label} every ${Math.round(intervalMs / 1000)} s${stamp()}${added.length ? ` · ${added.length} new` : ""}`);
    } catch (error) {
      say(`${label} stopped for a moment: ${error.message || error}`);
    } finally {
      busy = false;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    // The page was left: stop asking.
    if (!container.isConnected && started) { document.removeEventListener("visibilitychange", onVisibility); return; }
    if (document.visibilityState !== "visible") {
      say(`${label} paused while this tab is hidden${stamp()}`);
      return;
    }
    timer = setTimeout(async () => { await refresh(); schedule(); }, intervalMs);
  }

  function onVisibility() {
    if (!container.isConnected) { clearTimeout(timer); document.removeEventListener("visibilitychange", onVisibility); return; }
    if (document.visibilityState === "visible") refresh().then(schedule); else schedule();
  }

  let started = false;
  replace(list, h("p", { class: "muted" }, "Loading…"));
  first().then(() => {
    started = true;
    lastAt = new Date();
    say(`${label} every ${Math.round(intervalMs / 1000)} s${stamp()}`);
    document.addEventListener("visibilitychange", onVisibility);
    schedule();
  }).catch((error) => { replace(list, errorView(error)); });
  return container;
}
