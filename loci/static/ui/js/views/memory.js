// One memory: what it says, its record and pipeline state, its entities, its relations in both
// directions and its nearest memories by meaning; edit, link and delete it, each after a confirmation.

import { ApiError, del, get, patch, post } from "../api.js";
import { colourOf, confirmAction, fill, h, tagList, timeEl, toast, typeBadge } from "../dom.js";

const SYSTEM_RELATIONS = new Set(["PRECEDED_BY", "SIMILAR_TO", "DISCOVERED"]);
const RECORD_FIELDS = [
  ["Stored", "stored_at", "time"],
  ["Happened", "timestamp", "time"],
  ["Updated", "updated_at", "time"],
  ["Last read", "last_accessed", "time"],
  ["Valid from", "t_valid", "time"],
  ["Valid until", "t_invalid", "time"],
  ["Importance", "importance", "number"],
  ["Confidence", "confidence", "number"],
  ["Type from", "type_source", "text"],
  ["Relevance", "relevance_score", "number"],
  ["Archived", "archived", "flag"],
  ["Protected", "protected", "flag"],
];

export async function render(view, id, ctx) {
  fill(view, h("p", { class: "muted" }, "Loading…"));
  let memory;
  let around;
  try {
    [{ memory }, around] = await Promise.all([
      get(`/memory/${encodeURIComponent(id)}`),
      get(`/graph/neighbors/${encodeURIComponent(id)}`, { depth: 1, semantic_limit: 8 }),
    ]);
  } catch (error) {
    const message = error instanceof ApiError && error.status === 404 ? "There is no memory with this id (it may have been deleted)." : error.message;
    fill(view, h("p", { class: "error", role: "alert" }, message), h("p", {}, h("a", { href: "#/memories" }, "← All memories")));
    return null;
  }
  const reload = () => render(view, id, ctx);
  fill(
    view,
    h("p", { class: "crumbs" }, h("a", { href: "#/memories" }, "← Memories")),
    h(
      "article",
      { class: "memory", "aria-labelledby": "memory-content" },
      h("div", { class: "memory-head" }, typeBadge(memory.type, ctx.palette.types), timeEl(memory.timestamp), h("code", { class: "id" }, memory.id)),
      h("h1", { id: "memory-content", class: "memory-content" }, memory.content),
      tagList(memory.tags),
      actionBar(memory, ctx, reload),
      h("div", { id: "action-panel" }),
      h(
        "div",
        { class: "columns" },
        h("section", { class: "card", "aria-labelledby": "record-title" }, h("h2", { id: "record-title" }, "Record"), recordList(memory)),
        h("section", { class: "card", "aria-labelledby": "pipeline-title" }, h("h2", { id: "pipeline-title" }, "Pipeline"), pipelineList(memory)),
      ),
      entitiesSection(memory),
      relationsSection(memory.id, around, ctx),
      nearestSection(around, ctx),
      metadataSection(memory),
    ),
  );
  return null;
}

function actionBar(memory, ctx, reload) {
  const panel = () => document.getElementById("action-panel");
  return h(
    "div",
    { class: "actions", role: "group", "aria-label": "Change this memory" },
    h("button", { type: "button", onclick: () => fill(panel(), editForm(memory, ctx, reload)) }, "Edit"),
    h("button", { type: "button", onclick: () => fill(panel(), linkForm(memory, ctx, reload)) }, "Link to another memory"),
    h("a", { class: "button quiet", href: `#/graph/${encodeURIComponent(memory.id)}` }, "Show in graph"),
    h(
      "button",
      {
        type: "button",
        class: "danger",
        onclick: async () => {
          if (!(await confirmAction("Delete this memory? Its relations go with it. This cannot be undone.", "Delete"))) return;
          try {
            await del(`/memory/${encodeURIComponent(memory.id)}`);
            toast("Memory deleted.");
            location.hash = "#/memories";
          } catch (error) {
            toast(error.message, "error");
          }
        },
      },
      "Delete",
    ),
  );
}

// --- edit
function editForm(memory, ctx, reload) {
  const userTags = memory.tags.filter((tag) => !tag.startsWith("entity:"));
  const entityTags = memory.tags.filter((tag) => tag.startsWith("entity:"));
  const fields = {
    content: h("textarea", { id: "edit-content", name: "content", rows: "4", required: true }, memory.content),
    tags: h("input", { id: "edit-tags", name: "tags", value: userTags.join(", ") }),
    type: h("select", { id: "edit-type", name: "type" }, Object.keys(ctx.palette.types).map((t) => h("option", { value: t, selected: t === memory.type }, t))),
    importance: h("input", { id: "edit-importance", name: "importance", type: "number", min: "0", max: "1", step: "0.05", required: true, value: memory.importance }),
  };
  const status = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "card edit", "aria-labelledby": "edit-title", novalidate: true },
    h("h2", { id: "edit-title" }, "Edit memory"),
    labelled("edit-content", "Content", fields.content),
    labelled("edit-tags", "Tags (comma-separated)", fields.tags, entityTags.length ? `Entity tags are kept: ${entityTags.join(", ")}` : null),
    labelled("edit-type", "Type", fields.type),
    labelled("edit-importance", "Importance (0 to 1)", fields.importance),
    status,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save changes"), h("button", { type: "button", class: "quiet", onclick: () => form.remove() }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const content = fields.content.value.trim();
    const importance = Number(fields.importance.value);
    if (!content) return fieldError(fields.content, "Content cannot be empty.");
    if (fields.importance.value === "" || !(importance >= 0 && importance <= 1)) return fieldError(fields.importance, "Importance is a number from 0 to 1.");
    const tags = [...new Set([...splitTags(fields.tags.value), ...entityTags])];
    const changes = {};
    if (content !== memory.content) changes.content = content;
    if (tags.join("\n") !== memory.tags.join("\n")) changes.tags = tags;
    if (fields.type.value !== memory.type) changes.type = fields.type.value;
    if (importance !== memory.importance) changes.importance = importance;
    if (!Object.keys(changes).length) return (status.textContent = "Nothing changed.");
    if (!(await confirmAction(`Save changes to ${Object.keys(changes).join(", ")}?`, "Save"))) return;
    try {
      await patch(`/memory/${encodeURIComponent(memory.id)}`, changes);
      toast("Memory saved.");
      reload();
    } catch (error) {
      const input = error instanceof ApiError && error.field && fields[error.field.split(".")[0]];
      if (input) fieldError(input, error.message);
      else status.textContent = error.message;
    }
  });
  queueMicrotask(() => fields.content.focus());
  return form;
}

// --- link
function linkForm(memory, ctx, reload) {
  const authorable = ctx.relations.filter((name) => !SYSTEM_RELATIONS.has(name));
  const search = h("input", { id: "link-search", type: "search", placeholder: "Words from the other memory, or its id", autocomplete: "off" });
  const choices = h("ul", { class: "choices", id: "link-choices", "aria-label": "Memories to link to" });
  const kind = h("select", { id: "link-type", name: "type" }, authorable.map((name) => h("option", { value: name, selected: name === "RELATES_TO" }, name)));
  const strength = h("input", { id: "link-strength", type: "number", min: "0", max: "1", step: "0.1", value: "0.5" });
  const status = h("p", { class: "error", role: "alert" });
  let target = null;
  const chosen = h("p", { class: "muted", id: "link-chosen" }, "No memory chosen yet.");

  const choose = (candidate) => {
    target = candidate;
    fill(chosen, "Link to: ", h("strong", {}, snippet(candidate.content)));
    for (const item of choices.querySelectorAll("button")) item.setAttribute("aria-pressed", String(item.dataset.id === candidate.id));
  };
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = search.value.trim();
      if (!text) return fill(choices);
      try {
        const found = /^[0-9a-f-]{36}$/i.test(text)
          ? [(await get(`/memory/${encodeURIComponent(text)}`)).memory]
          : (await get("/recall", { query: text, limit: 6 })).results.map((result) => result.memory);
        fill(
          choices,
          found
            .filter((candidate) => candidate.id !== memory.id)
            .map((candidate) =>
              h("li", {}, h("button", { type: "button", class: "choice", "data-id": candidate.id, "aria-pressed": "false", onclick: () => choose(candidate) }, snippet(candidate.content))),
            ),
        );
      } catch (error) {
        fill(choices, h("li", { class: "muted" }, error.message));
      }
    }, 250);
  });

  const form = h(
    "form",
    { class: "card link", "aria-labelledby": "link-title", novalidate: true },
    h("h2", { id: "link-title" }, "Link to another memory"),
    labelled("link-search", "Find the other memory", search),
    choices,
    chosen,
    labelled("link-type", "Relation", kind),
    labelled("link-strength", "Strength (0 to 1)", strength),
    status,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create link"), h("button", { type: "button", class: "quiet", onclick: () => form.remove() }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    if (!target) return (status.textContent = "Choose the memory to link to first.");
    const value = Number(strength.value);
    if (!(value >= 0 && value <= 1)) return fieldError(strength, "Strength is a number from 0 to 1.");
    if (!(await confirmAction(`Link this memory to “${snippet(target.content)}” as ${kind.value}?`, "Link"))) return;
    try {
      await post("/associate", { memory1_id: memory.id, memory2_id: target.id, type: kind.value, strength: value });
      toast(`Linked as ${kind.value}.`);
      reload();
    } catch (error) {
      status.textContent = error.message;
    }
  });
  queueMicrotask(() => search.focus());
  return form;
}

// --- read-only sections
function recordList(memory) {
  return h(
    "dl",
    { class: "facts" },
    RECORD_FIELDS.map(([label, name, kind]) => {
      const value = memory[name];
      let shown;
      if (kind === "time") shown = value ? timeEl(value) : h("span", { class: "muted" }, "–");
      else if (kind === "number") shown = value === null || value === undefined ? "–" : Number(value).toFixed(2);
      else if (kind === "flag") shown = value ? "yes" : "no";
      else shown = value || "–";
      return [h("dt", {}, label), h("dd", { "data-field": name }, shown)];
    }),
  );
}

function pipelineList(memory) {
  const stage = (label, prefix, extra) =>
    h(
      "div",
      { class: "stage" },
      h("h3", {}, label),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "State"),
        h("dd", { "data-field": `${prefix}_status` }, h("span", { class: `state ${memory[`${prefix}_status`]}` }, memory[`${prefix}_status`])),
        h("dt", {}, "Attempts"),
        h("dd", {}, String(memory[`${prefix}_attempts`] ?? 0)),
        h("dt", {}, "Last error"),
        h("dd", { class: memory[`${prefix}_error`] ? "error" : "muted" }, memory[`${prefix}_error`] || "none"),
        extra,
      ),
    );
  return h(
    "div",
    { class: "stages" },
    stage("Embedding", "embedding"),
    stage("Enrichment", "enrichment", [h("dt", {}, "Enriched"), h("dd", {}, timeEl(memory.enriched_at))]),
  );
}

function entitiesSection(memory) {
  const entities = (memory.metadata && memory.metadata.entities) || {};
  const groups = Object.entries(entities).filter(([, names]) => Array.isArray(names) && names.length);
  return h(
    "section",
    { class: "card", "aria-labelledby": "entities-title" },
    h("h2", { id: "entities-title" }, "Entities"),
    groups.length
      ? h(
          "dl",
          { class: "facts entities" },
          groups.map(([category, names]) => [
            h("dt", {}, category),
            h("dd", {}, names.map((name, index) => [index ? ", " : "", h("a", { href: `#/memories?${new URLSearchParams({ q: name })}` }, name)])),
          ]),
        )
      : h("p", { class: "muted" }, memory.enrichment_status === "completed" ? "None found." : "Not enriched yet."),
  );
}

function relationsSection(id, around, ctx) {
  const byId = new Map([...around.graph_neighbors, ...around.semantic_neighbors].map((node) => [node.id, node]));
  const edges = around.edges.filter((edge) => edge.source === id || edge.target === id);
  const rows = edges.map((edge) => {
    const outgoing = edge.source === id;
    const other = byId.get(outgoing ? edge.target : edge.source);
    const label = h("span", { class: "relation" }, edge.type);
    label.style.setProperty("--relation", colourOf(ctx.palette.relations, edge.type));
    const otherEl = other
      ? h("a", { href: `#/memory/${encodeURIComponent(other.id)}` }, snippet(other.content))
      : h("span", { class: "muted" }, "a memory outside this view");
    const self = h("span", { class: "self" }, outgoing ? "This memory" : "this memory");
    const arrow = h("span", { class: "arrow", "aria-hidden": "true" }, "→");
    return h(
      "li",
      { class: "relation-row", "data-relation": edge.type, "data-direction": outgoing ? "out" : "in" },
      outgoing ? [self, label, arrow, otherEl] : [otherEl, label, arrow, self],
      h("span", { class: "muted strength" }, `strength ${Number(edge.strength).toFixed(2)}`),
    );
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "relations-title" },
    h("h2", { id: "relations-title" }, `Relations (${rows.length})`),
    rows.length ? h("ul", { class: "relation-list" }, rows) : h("p", { class: "muted" }, "No relations yet."),
  );
}

function nearestSection(around, ctx) {
  const note = {
    off: "Not asked for.",
    not_embedded: "Not embedded yet: no vector to compare.",
    unavailable: "The vector store cannot be reached.",
  }[around.meta.semantic];
  return h(
    "section",
    { class: "card", "aria-labelledby": "nearest-title" },
    h("h2", { id: "nearest-title" }, "Nearest by meaning"),
    note
      ? h("p", { class: "muted" }, note)
      : around.semantic_neighbors.length
        ? h(
            "ol",
            { class: "nearest" },
            around.semantic_neighbors.map((node) =>
              h("li", {}, h("span", { class: "similarity" }, Number(node.similarity).toFixed(2)), " ", typeBadge(node.type, ctx.palette.types), " ", h("a", { href: `#/memory/${encodeURIComponent(node.id)}` }, snippet(node.content))),
            ),
          )
        : h("p", { class: "muted" }, "No other memories are close, or they are all linked above."),
  );
}

function metadataSection(memory) {
  const { entities, ...rest } = memory.metadata || {};
  return h(
    "details",
    { class: "card metadata" },
    h("summary", {}, "Metadata"),
    Object.keys(rest).length ? h("pre", {}, JSON.stringify(rest, null, 2)) : h("p", { class: "muted" }, "No other metadata."),
  );
}

// --- helpers
function labelled(id, label, input, help = null) {
  return h("div", { class: "field" }, h("label", { for: id }, label), input, help ? h("p", { class: "muted help" }, help) : null);
}

function fieldError(input, message) {
  input.setAttribute("aria-invalid", "true");
  const note = h("p", { class: "field-error", id: `${input.id}-error` }, message);
  input.setAttribute("aria-describedby", note.id);
  input.after(note);
  input.focus();
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((note) => note.remove());
  form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
}

function splitTags(text) {
  return text
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
}

function snippet(text, length = 90) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
