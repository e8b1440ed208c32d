// The condition tree of a rule, edited as nested boxes: `all` / `any` groups, `not`, and one editor per
// leaf type offering only what the rule engine accepts (Sources/RuleEngine/Condition.swift and its
// validation). Every control carries the JSON path it edits (`conditions.all[1].any[0].stage_ids`), so a
// server error on that path is shown under it.

import { h, replace } from "../dom.js";
import { idPicker, fieldSuggestions, customField, datalist } from "./catalog.js";
import { pathField, choose, text, number, words, duration, hoursControls, defaultHours } from "./controls.js";

export const leafTypes = [
  ["field_value", "Field value"], ["stage_is", "Stage is"], ["pipeline_is", "Pipeline is"], ["time_elapsed", "Time elapsed"],
  ["message_text", "Message text"], ["message_origin", "Message channel"], ["within_working_hours", "Within working hours"],
  ["responsible_user_is", "Responsible user is"], ["inbound_message_count", "Incoming message count"],
];
const leafName = Object.fromEntries(leafTypes);

export const fieldOperators = [
  ["equals", "equals"], ["not_equals", "does not equal"], ["contains", "contains"], ["not_contains", "does not contain"],
  ["starts_with", "starts with"], ["matches", "matches the pattern"], ["gt", "> (number)"], ["gte", "≥ (number)"], ["lt", "< (number)"],
  ["lte", "≤ (number)"], ["in", "is one of"], ["not_in", "is none of"], ["is_empty", "is empty"], ["is_not_empty", "is not empty"],
  ["changed", "changed"], ["changed_to", "changed to"], ["changed_from", "changed from"],
];
const unary = new Set(["is_empty", "is_not_empty", "changed"]);
const listOperators = new Set(["in", "not_in"]);
const ordering = [["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"]];
const counting = [["equals", "="], ["not_equals", "≠"], ...ordering];
export const anchors = [["stage_entered", "entering the current stage"], ["lead_created", "the lead's creation"],
  ["last_inbound", "the last incoming message"], ["last_outbound", "the last outgoing message"]];
const origins = ["waba", "whatsapp", "telegram", "instagram", "facebook", "viber", "onlinechat", "email", "avito", "vk"];

/** A new leaf of `type` with the keys its editor starts from. */
export function newLeaf(type) {
  switch (type) {
    case "field_value": return { type, field: "", operator: "equals", value: "" };
    case "time_elapsed": return { type, anchor: "stage_entered", operator: "gte", seconds: 86400 };
    case "stage_is": return { type, stage_ids: [] };
    case "pipeline_is": return { type, pipeline_ids: [] };
    case "message_text": return { type, operator: "contains_any", keywords: [] };
    case "message_origin": return { type, origins: [] };
    case "responsible_user_is": return { type, user_ids: [] };
    case "inbound_message_count": return { type, operator: "gte", count: 1 };
    default: return { type };
  }
}

const inverseTool = {
  "Move up": "Move down", "Move down": "Move up",
  "Move into the group above": "Move out of this group", "Move out of this group": "Move into the group above",
};

const groupOf = (node) => (node && typeof node === "object" ? (Array.isArray(node.all) ? "all" : Array.isArray(node.any) ? "any" : "not" in node ? "not" : null) : null);

/** Replaces the members of `target` with those of `source`, keeping the object (its parents hold it). */
function become(target, source) {
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, source);
}

/**
 * The tree editor of `doc.conditions`. `ctx.changed()` is called after every edit; `ctx.catalog` feeds
 * the pickers. The editor redraws itself after a change of shape and keeps focus where the edit was.
 */
export function conditionTree(ctx, doc) {
  const container = h("div", { class: "tree", "data-field": "conditions" });
  // The box drawn for each node, so that after a move the focus can follow the node it moved.
  let drawn = new WeakMap();
  let focusAfter = null;
  const structural = () => {
    ctx.changed(); draw();
    if (!focusAfter) return;
    const { node, tool } = focusAfter;
    focusAfter = null;
    const box = drawn.get(node);
    const buttons = box ? Array.from(box.querySelectorAll(":scope > .tree-head > .tree-tools > button")) : [];
    // The same tool if it still applies, else its inverse (the way back), else the node's first tool.
    const pick = (name) => buttons.find((b) => b.dataset.tool === name && !b.disabled);
    const target = pick(tool) || pick(inverseTool[tool]) || buttons.find((b) => !b.disabled) || container.querySelector("button:not([disabled])");
    if (target) target.focus();
  };

  // The type picked for a group's next condition outlives a redraw (the catalog arriving redraws the tree).
  const nextLeaf = new Map();

  function draw() {
    drawn = new WeakMap();
    const root = doc.conditions;
    if (root === undefined || root === null) {
      replace(container,
        h("p", { class: "muted" }, "No conditions: the rule fires whenever its trigger happens."),
        addControls("conditions", (node) => { doc.conditions = groupOf(node) ? node : { all: [node] }; structural(); }),
        h("div", { class: "field-error", role: "alert" }));
      return;
    }
    const place = {
      path: "conditions", parent: null,
      set: (node) => { doc.conditions = node; structural(); },
      remove: () => { doc.conditions = undefined; structural(); },
    };
    replace(container, nodeView(root, place), h("div", { class: "field-error", role: "alert" }));
  }

  /** "Add: [type] [Add condition] [Add group]" under a group (or for the empty tree). */
  function addControls(path, add) {
    const type = choose(leafTypes, nextLeaf.get(path) ?? "field_value", (value) => { nextLeaf.set(path, value); }, { "aria-label": "Type of the new condition" });
    const addLeaf = h("button", { type: "button", class: "small" }, "Add condition");
    addLeaf.addEventListener("click", () => add(newLeaf(type.value)));
    const addAll = h("button", { type: "button", class: "small" }, "Add “all” group");
    addAll.addEventListener("click", () => add({ all: [newLeaf(type.value)] }));
    const addAny = h("button", { type: "button", class: "small" }, "Add “any” group");
    addAny.addEventListener("click", () => add({ any: [newLeaf(type.value)] }));
    return h("div", { class: "tree-add picker" }, type, addLeaf, addAll, addAny);
  }

  /** Move / wrap / delete buttons of a node at `place`. */
  function nodeTools(node, place, what) {
    const tools = h("div", { class: "tree-tools" });
    const tool = (label, text, enabled, act) => {
      const b = h("button", { type: "button", class: "small", "aria-label": `${label} (${what})`, title: label, disabled: !enabled, "data-tool": label }, text);
      b.addEventListener("click", () => { focusAfter = { node, tool: label }; act(); });
      tools.append(b);
    };
    const list = place.list;
    if (list) {
      const i = place.index;
      tool("Move up", "↑", i > 0, () => { [list[i - 1], list[i]] = [list[i], list[i - 1]]; structural(); });
      tool("Move down", "↓", i < list.length - 1, () => { [list[i + 1], list[i]] = [list[i], list[i + 1]]; structural(); });
      const previous = list[i - 1];
      const previousGroup = groupOf(previous);
      tool("Move into the group above", "→ into group", previousGroup === "all" || previousGroup === "any", () => {
        list.splice(i, 1); previous[previousGroup].push(node); structural();
      });
      const outer = place.parent;
      tool("Move out of this group", "← out of group", Boolean(outer && outer.list), () => {
        list.splice(i, 1);
        outer.list.splice(outer.index + 1, 0, node);
        if (!list.length) outer.list.splice(outer.index, 1);
        structural();
      });
    }
    if (place.inNot) {
      tool("Remove the “not”", "Remove not", true, () => place.unwrap());
    } else {
      tool("Wrap in “not”", "Not", true, () => place.set({ not: node }));
    }
    if (!place.list && groupOf(node) !== "all" && groupOf(node) !== "any") {
      tool("Wrap in an “all” group", "Group", true, () => place.set({ all: [node] }));
    }
    tool("Delete", "Delete", true, () => place.remove());
    return tools;
  }

  function nodeView(node, place) {
    const kind = groupOf(node);
    const box = kind === "all" || kind === "any" ? groupView(node, kind, place) : kind === "not" ? notView(node, place) : leafView(node, place);
    drawn.set(node, box);
    return box;
  }

  function groupView(node, kind, place) {
    const children = node[kind];
    const path = place.path;
    const switcher = choose([["all", "all of these hold"], ["any", "at least one of these holds"]], kind, (value) => {
      if (value === kind) return;
      node[value] = node[kind]; delete node[kind]; structural();
    }, { "aria-label": `Group ${path}: how its conditions combine` });
    const items = children.map((child, index) => nodeView(child, {
      path: `${path}.${kind}[${index}]`, list: children, index, parent: place,
      set: (replacement) => { children[index] = replacement; structural(); },
      remove: () => { children.splice(index, 1); structural(); },
    }));
    return h("div", { class: `tree-group ${kind}`, "data-field": path, "data-node": kind },
      h("div", { class: "tree-head" }, h("strong", {}, "Match"), switcher, nodeTools(node, place, `group ${path}`)),
      h("div", { class: "field", "data-field": `${path}.${kind}` }, h("div", { class: "field-error", role: "alert" })),
      h("div", { class: "field", "data-field": path }, h("div", { class: "field-error", role: "alert" })),
      h("div", { class: "tree-children" }, items.length ? items : h("p", { class: "muted small" }, "Empty group: add a condition.")),
      addControls(`${path}.${kind}`, (added) => { children.push(added); structural(); }));
  }

  function notView(node, place) {
    const path = place.path;
    const childPlace = {
      path: `${path}.not`, parent: place.parent, inNot: true,
      set: (replacement) => { node.not = replacement; structural(); },
      remove: () => place.remove(),
      unwrap: () => place.set(node.not),
    };
    const child = node.not && typeof node.not === "object" ? nodeView(node.not, childPlace) : h("p", { class: "muted" }, "Nothing to negate.");
    return h("div", { class: "tree-not", "data-field": path, "data-node": "not" },
      h("div", { class: "tree-head" }, h("strong", {}, "Not:"), h("span", { class: "muted small" }, "holds when the condition below does not"),
        place.list ? nodeTools(node, { ...place, inNot: false, set: place.set }, `not ${path}`) : null),
      h("div", { class: "field", "data-field": path }, h("div", { class: "field-error", role: "alert" })),
      child);
  }

  function leafView(leaf, place) {
    const path = place.path;
    const body = h("div", { class: "leaf-body grid" });
    const typeSelect = choose(leafTypes, leaf.type, (value) => { become(leaf, newLeaf(value)); structural(); });
    const box = h("div", { class: "tree-leaf", "data-field": path, "data-node": "leaf" },
      h("div", { class: "tree-head" }, pathField("Condition", typeSelect, `${path}.type`), nodeTools(leaf, place, `${leafName[leaf.type] || leaf.type} ${path}`)),
      h("div", { class: "field", "data-field": path }, h("div", { class: "field-error", role: "alert" })),
      body);
    leafEditor(leaf, path, body);
    return box;
  }

  /** The controls of one leaf; `redraw()` rebuilds them when one choice changes the others. */
  function leafEditor(leaf, path, body) {
    const redraw = () => { replace(body); leafEditor(leaf, path, body); ctx.changed(); };
    const catalog = ctx.catalog;
    const set = (key) => (value) => {
      if (value === undefined) delete leaf[key]; else leaf[key] = value;
      ctx.changed();
    };
    const add = (...nodes) => body.append(...nodes);
    switch (leaf.type) {
      case "field_value": {
        const { plain, custom } = fieldSuggestions(catalog);
        const list = datalist([...custom.map((c) => c.ref), ...plain]);
        const fieldBox = text(leaf.field, (value) => { leaf.field = value; ctx.changed(); }, { list: list.id, spellcheck: "false", placeholder: "cf.Budget, price, contact.cf.Email" });
        fieldBox.addEventListener("change", redraw);
        add(pathField("Field", fieldBox, `${path}.field`, catalog.connected ? "Pick a field of the account or type a reference." : "price, cf.Budget, cf.123456, contact.cf.Email"), list.element);
        const op = choose(fieldOperators, leaf.operator, (value) => {
          const wasList = listOperators.has(leaf.operator);
          leaf.operator = value;
          if (unary.has(value)) { delete leaf.value; delete leaf.values; }
          else if (listOperators.has(value)) { if (!wasList) leaf.values = leaf.value ? [leaf.value] : []; delete leaf.value; }
          else { if (wasList || leaf.value === undefined) leaf.value = (leaf.values || [])[0] || ""; delete leaf.values; }
          redraw();
        });
        add(pathField("Operator", op, `${path}.operator`));
        const known = customField(catalog, leaf.field);
        const enums = known && Array.isArray(known.enums) && known.enums.length ? known.enums.map((e) => e.value) : null;
        if (listOperators.has(leaf.operator)) {
          if (enums) {
            const multi = h("select", { multiple: true, size: Math.min(6, enums.length) }, enums.map((v) => h("option", { value: v, selected: (leaf.values || []).includes(v) }, v)));
            multi.addEventListener("change", () => { leaf.values = Array.from(multi.selectedOptions).map((o) => o.value); ctx.changed(); });
            add(pathField("Values", multi, `${path}.values`));
          } else {
            add(pathField("Values", words(leaf.values, set("values")), `${path}.values`, "comma-separated"));
          }
        } else if (!unary.has(leaf.operator)) {
          if (enums && !["contains", "not_contains", "starts_with", "matches"].includes(leaf.operator)) {
            add(pathField("Value", choose([["", "— choose —"], ...enums.map((v) => [v, v])], leaf.value, set("value")), `${path}.value`));
          } else {
            const numeric = ordering.some(([o]) => o === leaf.operator);
            add(pathField(leaf.operator === "matches" ? "Pattern" : "Value", text(leaf.value, set("value"), { inputmode: numeric ? "decimal" : undefined }), `${path}.value`,
              numeric ? "a number" : leaf.operator === "matches" ? "a regular expression" : undefined));
          }
        }
        break;
      }
      case "time_elapsed":
        add(pathField("Since", choose(anchors, leaf.anchor, set("anchor")), `${path}.anchor`),
          pathField("Is", choose(ordering.map(([v, t]) => [v, `${t} (${v})`]), leaf.operator, set("operator")), `${path}.operator`),
          duration("Duration", leaf.seconds, (s) => { leaf.seconds = s ?? 0; ctx.changed(); }, `${path}.seconds`));
        break;
      case "stage_is": {
        const pipeline = idPicker(catalog, "pipeline", leaf.pipeline_id, { optional: true, label: "Pipeline", onchange: (id) => {
          if (id === undefined) delete leaf.pipeline_id; else leaf.pipeline_id = id;
          redraw();
        } });
        const stages = idPicker(catalog, "stage", leaf.stage_ids, { multiple: true, pipelineID: leaf.pipeline_id, label: "Stages", onchange: set("stage_ids") });
        add(pathField("Pipeline (optional)", pipeline, `${path}.pipeline_id`),
          pathField("Stages", stages, `${path}.stage_ids`, catalog.connected ? "Ctrl/⌘-click picks several." : "stage ids, comma-separated"));
        break;
      }
      case "pipeline_is":
        add(pathField("Pipelines", idPicker(catalog, "pipeline", leaf.pipeline_ids, { multiple: true, label: "Pipelines", onchange: set("pipeline_ids") }), `${path}.pipeline_ids`));
        break;
      case "message_text": {
        const op = choose([["contains_any", "contains any of the keywords"], ["matches", "matches the pattern"]], leaf.operator, (value) => {
          leaf.operator = value;
          if (value === "matches") { delete leaf.keywords; leaf.pattern = leaf.pattern || ""; } else { delete leaf.pattern; leaf.keywords = leaf.keywords || []; }
          redraw();
        });
        add(pathField("Text", op, `${path}.operator`));
        if (leaf.operator === "matches") add(pathField("Pattern", text(leaf.pattern, set("pattern"), { spellcheck: "false" }), `${path}.pattern`, "a regular expression; case and accents are ignored"));
        else add(pathField("Keywords", words(leaf.keywords, set("keywords")), `${path}.keywords`, "comma-separated; case and accents are ignored"));
        break;
      }
      case "message_origin": {
        const list = datalist(origins);
        add(pathField("Channels", words(leaf.origins, set("origins"), { list: list.id }), `${path}.origins`, `comma-separated: ${origins.slice(0, 5).join(", ")}, …`), list.element);
        break;
      }
      case "within_working_hours": {
        // Its own hours, or (unticked) the agent's. Only the hours below are redrawn, so the box keeps the focus.
        const own = h("input", { type: "checkbox", checked: Boolean(leaf.hours) });
        const hours = h("div", { class: "hours" });
        const drawHours = () => replace(hours, leaf.hours ? hoursControls(leaf.hours, `${path}.hours`, ctx.changed) : null);
        own.addEventListener("change", () => {
          if (own.checked) leaf.hours = defaultHours(); else delete leaf.hours;
          drawHours(); ctx.changed();
        });
        add(pathField("Its own hours", own, `${path}.hours`, "Unticked: the agent's working hours. Wrap it in “not” for outside working hours."), hours);
        drawHours();
        break;
      }
      case "responsible_user_is":
        add(pathField("Users", idPicker(catalog, "user", leaf.user_ids, { multiple: true, label: "Users", onchange: set("user_ids") }), `${path}.user_ids`));
        break;
      case "inbound_message_count":
        add(pathField("Is", choose(counting.map(([v, t]) => [v, `${t} (${v})`]), leaf.operator, set("operator")), `${path}.operator`),
          pathField("Count", number(leaf.count, (n) => { leaf.count = n ?? 0; ctx.changed(); }, { min: 0 }), `${path}.count`));
        break;
      default:
        add(h("p", { class: "muted" }, `Unknown condition type "${leaf.type}": edit it in the JSON tab.`));
    }
  }

  draw();
  container.redraw = draw;
  return container;
}
