// Memories: the newest first, paged; or a search through /recall with its filters, each result
// with its score and what the score is made of.

import { ApiError, get } from "../api.js";
import { fill, h, tagList, timeEl, typeBadge } from "../dom.js";

const PAGE_SIZE = 25;
const SEARCH_LIMIT = 20;
const FILTERS = ["q", "tags", "tag_mode", "type", "from", "to", "state", "min_importance"];

// The cursor of each page of the list, so "Newer" can go back; page 1 has none.
let pageCursors = [null];

const COMPONENT_COLOURS = {
  vector: "#3B82F6",
  keyword: "#10B981",
  exact: "#059669",
  tag: "#8B5CF6",
  importance: "#F59E0B",
  confidence: "#EAB308",
  recency: "#06B6D4",
  relation: "#EC4899",
  entity: "#F97316",
  temporal: "#14B8A6",
  context: "#64748B",
  priority: "#EF4444",
};

export async function render(view, params, ctx) {
  const searching = FILTERS.some((name) => params.get(name));
  const results = h("section", { class: "results", "aria-live": "polite", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  fill(view, h("h1", {}, "Memories"), searchForm(params, ctx), results);
  const controller = new AbortController();
  try {
    if (searching) await showSearch(results, params, ctx, controller.signal);
    else await showPage(results, params, ctx, controller.signal);
  } catch (error) {
    if (error.name !== "AbortError") fill(results, h("p", { class: "error", role: "alert" }, error.message));
  }
  results.setAttribute("aria-busy", "false");
  return () => controller.abort();
}

function searchForm(params, ctx) {
  const field = (id, label, input) => h("div", { class: "field" }, h("label", { for: id }, label), input);
  const select = (id, options, value) =>
    h("select", { id, name: id }, options.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)));
  const typeNames = Object.keys(ctx.palette.types);
  const filtersOpen = FILTERS.slice(1).some((name) => params.get(name));
  const form = h(
    "form",
    { class: "search", role: "search", "aria-label": "Search memories" },
    h(
      "div",
      { class: "search-row" },
      h("label", { for: "q", class: "visually-hidden" }, "Search memories"),
      h("input", { id: "q", name: "q", type: "search", value: params.get("q") || "", placeholder: "Search what the assistant remembers…" }),
      h("button", { type: "submit" }, "Search"),
    ),
    h(
      "details",
      { class: "filters", open: filtersOpen },
      h("summary", {}, "Filters"),
      h(
        "div",
        { class: "filter-grid" },
        field("tags", "Tags (comma-separated)", h("input", { id: "tags", name: "tags", value: params.get("tags") || "" })),
        field("tag_mode", "Tags must match", select("tag_mode", [["any", "any of them"], ["all", "all of them"]], params.get("tag_mode") || "any")),
        field("type", "Type", select("type", [["", "any type"], ...typeNames.map((t) => [t, t])], params.get("type") || "")),
        field("from", "From", h("input", { id: "from", name: "from", type: "date", value: params.get("from") || "" })),
        field("to", "To", h("input", { id: "to", name: "to", type: "date", value: params.get("to") || "" })),
        field("state", "State", select("state", [["current", "current only"], ["history", "history too (superseded, expired)"]], params.get("state") || "current")),
        field(
          "min_importance",
          "Importance at least",
          h("input", { id: "min_importance", name: "min_importance", type: "number", min: "0", max: "1", step: "0.1", value: params.get("min_importance") || "" }),
        ),
      ),
    ),
    h("div", { class: "actions" }, h("a", { href: "#/memories", class: "button quiet" }, "Clear")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      const text = String(value).trim();
      const isDefault = (name === "tag_mode" && text === "any") || (name === "state" && text === "current");
      if (text && !isDefault) chosen.set(name, text);
    }
    // a filter that only repeats a default still counts as a search when the box has words
    location.hash = `#/memories?${chosen.toString() || "q="}`;
  });
  return form;
}

function recallQuery(params) {
  const query = { limit: Number(params.get("limit")) || SEARCH_LIMIT };
  if (params.get("q")) query.query = params.get("q");
  if (params.get("tags")) query.tags = params.get("tags");
  if (params.get("tag_mode")) query.tag_mode = params.get("tag_mode");
  if (params.get("type")) query.types = params.get("type");
  if (params.get("from")) query.start = new Date(`${params.get("from")}T00:00:00`).toISOString();
  if (params.get("to")) query.end = new Date(`${params.get("to")}T23:59:59.999`).toISOString();
  if (params.get("state")) query.state_mode = params.get("state");
  if (params.get("min_importance")) query.min_importance = params.get("min_importance");
  return query;
}

async function showSearch(results, params, ctx, signal) {
  let answer;
  try {
    answer = await get("/recall", recallQuery(params), { signal });
  } catch (error) {
    if (error instanceof ApiError && error.field) markField(error.field, error.message);
    throw error;
  }
  const shown = answer.results;
  const summary = h(
    "p",
    { class: "muted summary" },
    `${shown.length} ${shown.length === 1 ? "memory" : "memories"} in ${Math.round(answer.query_time_ms)} ms`,
    (answer.warnings || []).map((warning) => h("span", { class: "warning" }, ` · ${warning}`)),
  );
  const more =
    shown.length >= (Number(params.get("limit")) || SEARCH_LIMIT) && (Number(params.get("limit")) || SEARCH_LIMIT) < 100
      ? h("a", { class: "button quiet", href: `#/memories?${withParam(params, "limit", (Number(params.get("limit")) || SEARCH_LIMIT) + SEARCH_LIMIT)}` }, "Show more")
      : null;
  fill(
    results,
    summary,
    shown.length ? h("ol", { class: "result-list" }, shown.map((result) => resultItem(result.memory, ctx, result))) : h("p", { class: "empty" }, "Nothing matched."),
    more,
  );
}

async function showPage(results, params, ctx, signal) {
  let page = Number(params.get("page")) || 1;
  if (page > pageCursors.length) page = 1; // opened from a bookmark: the cursors are gone
  if (page === 1) pageCursors = [null];
  const answer = await get("/memories", { limit: PAGE_SIZE, cursor: pageCursors[page - 1] }, { signal });
  pageCursors = pageCursors.slice(0, page);
  if (answer.next_cursor) pageCursors.push(answer.next_cursor);
  const nav = h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    page > 1 ? h("a", { class: "button quiet", href: `#/memories?page=${page - 1}`, rel: "prev" }, "← Newer") : h("span"),
    h("span", { class: "muted" }, `Page ${page}`),
    answer.next_cursor ? h("a", { class: "button quiet", href: `#/memories?page=${page + 1}`, rel: "next" }, "Older →") : h("span"),
  );
  fill(
    results,
    answer.memories.length
      ? h("ol", { class: "result-list" }, answer.memories.map((memory) => resultItem(memory, ctx)))
      : h("p", { class: "empty" }, "No memories yet. Anything an assistant stores appears here."),
    nav,
  );
}

function resultItem(memory, ctx, result = null) {
  return h(
    "li",
    { class: "result" },
    h(
      "a",
      { href: `#/memory/${encodeURIComponent(memory.id)}`, class: "result-link", "data-id": memory.id },
      h("p", { class: "content" }, memory.content),
      h(
        "div",
        { class: "meta" },
        typeBadge(memory.type, ctx.palette.types),
        timeEl(memory.timestamp),
        h("span", { class: "importance" }, `importance ${Number(memory.importance).toFixed(2)}`),
        memory.embedding_status !== "completed" || memory.enrichment_status !== "completed"
          ? h("span", { class: "pending" }, "processing")
          : null,
      ),
      tagList(memory.tags),
      result ? scoreLine(result) : null,
    ),
  );
}

/** The score and a bar of its components, each as wide as its share. */
function scoreLine(result) {
  const parts = Object.entries(result.score_components || {}).filter(([, value]) => value > 0);
  const total = parts.reduce((sum, [, value]) => sum + value, 0) || 1;
  const described = parts.map(([name, value]) => `${name} ${value.toFixed(2)}`).join(", ");
  const bar = h("span", { class: "components", role: "img", "aria-label": `Score components: ${described}`, title: described });
  for (const [name, value] of parts) {
    const segment = h("span", { class: "component" });
    segment.style.setProperty("--share", `${(100 * value) / total}%`);
    segment.style.setProperty("--colour", COMPONENT_COLOURS[name] || "#94A3B8");
    bar.append(segment);
  }
  return h(
    "div",
    { class: "score" },
    h("span", { class: "score-value", title: `match: ${result.match_type}` }, `score ${Number(result.score).toFixed(3)}`),
    bar,
    h("span", { class: "component-names" }, parts.map(([name]) => name).join(" · ")),
  );
}

function withParam(params, name, value) {
  const copy = new URLSearchParams(params);
  copy.set(name, value);
  return copy.toString();
}

/** Show the server's complaint beside the control it names. */
function markField(field, message) {
  const names = { query: "q", types: "type", start: "from", end: "to", state_mode: "state" };
  const input = document.getElementById(names[field] || field);
  if (!input) return;
  input.setAttribute("aria-invalid", "true");
  const note = h("p", { class: "field-error", id: `${input.id}-error` }, message);
  input.setAttribute("aria-describedby", note.id);
  input.after(note);
  const details = input.closest("details");
  if (details) details.open = true;
}
