// Health and activity: the two pipeline stages, the stores, the scheduler's next and last runs,
// live events from /stream, and an import of a file of memories with its progress.

import { get, post } from "../api.js";
import { confirmAction, fill, formatNumber, h, timeEl, toast } from "../dom.js";

const POLL_MS = 5000;
const EVENTS_SHOWN = 40;
const IMPORT_BATCH = 100;
const STAGES = [
  ["embedding", "Embedding"],
  ["enrichment", "Enrichment"],
];

export async function render(view, ctx) {
  const stages = h("section", { class: "card", "aria-labelledby": "stages-title" }, h("h2", { id: "stages-title" }, "Pipeline"), h("p", { class: "muted" }, "Loading…"));
  const stores = h("section", { class: "card", "aria-labelledby": "stores-title" }, h("h2", { id: "stores-title" }, "Stores"));
  const schedule = h("section", { class: "card", "aria-labelledby": "schedule-title" }, h("h2", { id: "schedule-title" }, "Scheduled jobs"));
  const events = h("ol", { class: "events", "aria-label": "Recent events" });
  fill(
    view,
    h("h1", {}, "Activity"),
    stages,
    h("div", { class: "columns" }, stores, schedule),
    importCard(),
    h(
      "section",
      { class: "card", "aria-labelledby": "events-title" },
      h("h2", { id: "events-title" }, "Live events"),
      h("p", { class: "muted", id: "events-empty" }, "Stores, enrichment and scheduled runs appear here as they happen."),
      events,
    ),
  );

  let previous = null; // the last health answer and when it came, for rates
  let refreshing = false;
  let queued = null;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const [health, consolidation] = await Promise.all([get("/health"), get("/consolidate/status")]);
      const now = performance.now();
      fill(stages, h("h2", { id: "stages-title" }, "Pipeline"), stageTable(health, previous, now));
      fill(stores, h("h2", { id: "stores-title" }, "Stores"), storeList(health));
      fill(schedule, h("h2", { id: "schedule-title" }, "Scheduled jobs"), scheduleTable(health, consolidation));
      previous = { health, at: now };
    } catch (error) {
      fill(stages, h("h2", { id: "stages-title" }, "Pipeline"), h("p", { class: "error", role: "alert" }, error.message));
    } finally {
      refreshing = false;
    }
  }
  const soon = () => {
    if (!queued) queued = setTimeout(() => ((queued = null), refresh()), 500);
  };

  const unsubscribe = ctx.onEvent((event) => {
    document.getElementById("events-empty")?.remove();
    events.prepend(eventItem(event));
    while (events.children.length > EVENTS_SHOWN) events.lastChild.remove();
    soon();
  });
  const timer = setInterval(refresh, POLL_MS);
  await refresh();
  return () => {
    clearInterval(timer);
    clearTimeout(queued);
    unsubscribe();
  };
}

function stageTable(health, previous, now) {
  const seconds = previous ? (now - previous.at) / 1000 : 0;
  const head = ["Stage", "State", "Queued", "In flight", "Pending", "Completed", "Failed", "Rate"];
  return h(
    "table",
    { class: "stages-table" },
    h("thead", {}, h("tr", {}, head.map((name) => h("th", { scope: "col" }, name)))),
    h(
      "tbody",
      {},
      STAGES.map(([key, label]) => {
        const stage = health[key];
        const memories = stage.memories || {};
        const before = previous && previous.health[key];
        const rate = before && seconds > 0 ? Math.max(0, stage.processed - before.processed) / seconds : null;
        const cell = (field, value) => h("td", { "data-stage": key, "data-field": field }, value);
        return h(
          "tr",
          {},
          h("th", { scope: "row" }, label),
          cell("status", h("span", { class: `state ${stage.status}` }, stage.status)),
          cell("queued", formatNumber(stage.queue_depth + (stage.delayed || 0))),
          cell("inflight", formatNumber(stage.inflight)),
          cell("pending", formatNumber(memories.pending)),
          cell("completed", formatNumber(memories.completed)),
          cell("failed", formatNumber(memories.failed)),
          cell("rate", rate === null ? "–" : `${formatNumber(rate, 1)}/s`),
        );
      }),
    ),
    h(
      "caption",
      { class: "muted" },
      `Embedding with ${health.embedding.provider} (${health.embedding.model}); entities by ${health.enrichment.entity_extractor}.`,
      ...STAGES.filter(([key]) => health[key].last_error).map(([key, label]) => h("span", { class: "error" }, ` ${label}: ${health[key].last_error}`)),
    ),
  );
}

function storeList(health) {
  const disk = health.disk || {};
  const rows = [
    ["Service", h("span", { class: `state ${health.status}` }, health.status), "status"],
    ["Memories", formatNumber(health.memory_count), "memory_count"],
    ["Vectors", formatNumber(health.vector_count), "vector_count"],
    ["In step", health.sync_status, "sync_status"],
    ["Graph", `FalkorDB ${health.falkordb} (${health.graph_server})`, "falkordb"],
    ["Vector store", `${health.vector_store}, ${health.qdrant}`, "qdrant"],
    ["Free disk", disk.free_bytes ? `${formatNumber(disk.free_bytes / 2 ** 30, 1)} GiB (writes ${disk.writes})` : "–", "disk"],
    ["Up", `${formatNumber(health.uptime_seconds / 60, 0)} min, version ${health.version}`, "uptime"],
  ];
  return h("dl", { class: "facts" }, rows.map(([label, value, field]) => [h("dt", {}, label), h("dd", { "data-field": field }, value)]));
}

function scheduleTable(health, consolidation) {
  const lastRun = {};
  for (const run of consolidation.history || []) {
    const known = lastRun[run.mode];
    if (!known || run.completed_at > known.completed_at) lastRun[run.mode] = run;
  }
  const sync = health.sync && health.sync.last_run;
  const jobs = Object.entries(consolidation.next_runs || {});
  return h(
    "table",
    { class: "schedule-table" },
    h("thead", {}, h("tr", {}, ["Job", "Every", "Next run", "Last run"].map((name) => h("th", { scope: "col" }, name)))),
    h(
      "tbody",
      {},
      jobs.map(([job, next]) => {
        const last = lastRun[job];
        const seconds = (consolidation.intervals_seconds || {})[job];
        const disabled = next === "Disabled" || !seconds;
        let lastCell = h("span", { class: "muted" }, "not since start");
        if (last) lastCell = [timeEl(last.completed_at), last.success ? "" : h("span", { class: "error" }, " failed")];
        else if (job === "sync" && sync) lastCell = [timeEl(sync.completed_at), sync.success === false ? h("span", { class: "error" }, " failed") : ""];
        return h(
          "tr",
          { "data-job": job },
          h("th", { scope: "row" }, job),
          h("td", {}, disabled ? "off" : every(seconds)),
          h("td", {}, disabled ? h("span", { class: "muted" }, "disabled") : timeEl(next)),
          h("td", {}, lastCell),
        );
      }),
    ),
  );
}

function every(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function eventItem(event) {
  const data = event.data || {};
  const id = data.memory_id;
  return h(
    "li",
    { "data-event": event.type },
    timeEl(event.timestamp),
    " ",
    h("span", { class: "event-type" }, event.type),
    id ? [" ", h("a", { href: `#/memory/${encodeURIComponent(id)}` }, id.slice(0, 8))] : null,
    data.count !== undefined ? ` (${data.count})` : null,
  );
}

// --- import a file of memories, with its progress through the pipeline
function importCard() {
  const input = h("input", { id: "import-file", type: "file", accept: ".json,.jsonl,application/json" });
  const progress = h("div", { class: "import-progress", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card import", "aria-labelledby": "import-title" },
    h("h2", { id: "import-title" }, "Import memories"),
    h(
      "p",
      { class: "muted", id: "import-help" },
      "A JSON array or JSON Lines file of memories as POST /memory takes them ({\"content\": …, \"tags\": […], …}). They are stored in batches of ",
      String(IMPORT_BATCH),
      "; the bars follow them until they are searchable.",
    ),
    h("label", { for: "import-file" }, "File"),
    input,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Import")),
    progress,
  );
  input.setAttribute("aria-describedby", "import-help");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files && input.files[0];
    if (!file) return toast("Choose a file first.", "error");
    let items;
    try {
      items = parseMemories(await file.text());
    } catch (error) {
      return fill(progress, h("p", { class: "error", role: "alert" }, `${file.name}: ${error.message}`));
    }
    if (!(await confirmAction(`Store ${items.length.toLocaleString()} memories from ${file.name}?`, "Import"))) return;
    await runImport(items, progress);
  });
  return form;
}

/** The memories in a file: a JSON array, or one JSON object per line. */
export function parseMemories(text) {
  const trimmed = text.trim();
  if (!trimmed) throw new Error("the file is empty");
  const items = trimmed.startsWith("[")
    ? JSON.parse(trimmed)
    : trimmed.split(/\r?\n/).filter((line) => line.trim()).map((line, index) => {
        try {
          return JSON.parse(line);
        } catch {
          throw new Error(`line ${index + 1} is not JSON`);
        }
      });
  items.forEach((item, index) => {
    if (!item || typeof item !== "object" || typeof item.content !== "string") throw new Error(`item ${index + 1} has no "content" text`);
  });
  return items;
}

async function runImport(items, progress) {
  const bar = (label, field) => {
    const meter = h("progress", { max: String(items.length), value: "0", "aria-label": label, "data-field": field });
    const count = h("span", { class: "count" }, `0 / ${items.length}`);
    return { row: h("div", { class: "bar-row" }, h("span", {}, label), meter, count), meter, count };
  };
  const stored = bar("Stored", "stored");
  const done = bar("Searchable and enriched", "completed");
  const note = h("p", { class: "muted" });
  fill(progress, stored.row, done.row, note);
  const set = (which, value) => {
    which.meter.value = value;
    which.count.textContent = `${value.toLocaleString()} / ${items.length.toLocaleString()}`;
  };

  const ids = [];
  for (let start = 0; start < items.length; start += IMPORT_BATCH) {
    try {
      const answer = await post("/memory/batch", { memories: items.slice(start, start + IMPORT_BATCH) });
      ids.push(...answer.memory_ids);
      set(stored, ids.length);
    } catch (error) {
      const where = error.field ? ` (${error.field.replace(/^memories\.(\d+)/, (_, i) => `item ${start + Number(i) + 1}`)})` : "";
      note.className = "error";
      note.textContent = `Stopped after ${ids.length} memories: ${error.message}${where}. Those stored are kept.`;
      break;
    }
  }
  // follow them until every one has finished both stages (or failed)
  for (let round = 0; ids.length && round < 3600; round += 1) {
    const answer = await post("/memory/status", { ids });
    set(done, answer.counts.completed);
    if (answer.counts.failed) note.textContent = `${answer.counts.failed} failed: ${answer.failed[0].reason}`;
    if (!answer.counts.pending) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (!note.textContent) note.textContent = `Imported ${ids.length.toLocaleString()} memories.`;
  toast(note.textContent);
}
