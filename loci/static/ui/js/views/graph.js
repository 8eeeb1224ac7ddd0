// The graph: a memory's neighbourhood (/graph/neighbors) or the whole graph (/graph/snapshot,
// sampled by importance above a size the browser draws smoothly), drawn with Cytoscape.js,
// coloured by memory type and relation. Click a node to open its memory. The same nodes and
// edges are listed under the drawing for keyboards and screen readers.

import cytoscape from "../../vendor/cytoscape.esm.min.js";
import { get } from "../api.js";
import { colourOf, fill, h } from "../dom.js";

const SNAPSHOT_LIMITS = [100, 300, 1000, 2000];
const DEFAULT_SNAPSHOT_LIMIT = 300;
const SIMILAR = "nearest by meaning";

export async function render(view, id, ctx) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const canvas = h("div", { class: "graph-canvas", id: "graph-canvas", role: "img", "aria-label": "Memory graph drawing" });
  const caption = h("p", { class: "muted", id: "graph-caption", "aria-live": "polite" }, "Loading…");
  const lists = h("details", { class: "card graph-lists" }, h("summary", {}, "Memories and relations in this view, as a list"));
  const legend = h("div", { class: "legend", "aria-label": "Legend" });
  fill(view, h("h1", {}, id ? "Neighbourhood" : "Graph"), controls(id, params), caption, zoomBar(), canvas, legend, lists);

  let data;
  try {
    data = id ? await neighbourhood(id, params) : await snapshot(params);
  } catch (error) {
    fill(caption, h("span", { class: "error", role: "alert" }, error.message));
    return null;
  }
  fill(caption, data.caption);
  const elements = [
    ...data.nodes.map((node) => ({
      data: {
        id: node.id,
        label: snippet(node.content, 48),
        colour: colourOf(ctx.palette.types, node.type),
        size: 16 + 26 * (node.importance ?? 0.5),
        type: node.type,
        ring: node.id === id ? 10 : 9 - (node.hops ?? 9), // the centre, then by hops, nearest-by-meaning outside
      },
      classes: [node.id === id ? "centre" : "", id ? "" : "crowded"].join(" ").trim(),
    })),
    ...data.edges.map((edge) => ({
      data: {
        id: edge.id,
        source: edge.source,
        target: edge.target,
        type: edge.type,
        colour: edge.type === SIMILAR ? "#94A3B8" : colourOf(ctx.palette.relations, edge.type),
        width: 1 + 3 * (edge.strength ?? 0.5),
      },
      classes: edge.type === SIMILAR ? "similar" : "",
    })),
  ];
  const cy = cytoscape({
    container: canvas,
    elements,
    style: STYLE,
    layout: id ? { name: "concentric", concentric: (node) => node.data("ring"), levelWidth: () => 1, animate: false, minNodeSpacing: 40 }
      : { name: "cose", animate: false, randomize: false, numIter: 800, nodeRepulsion: () => 9000, idealEdgeLength: () => 60 },
    minZoom: 0.05,
    maxZoom: 4,
  });
  cy.on("tap", "node", (event) => {
    location.hash = `#/memory/${encodeURIComponent(event.target.id())}`;
  });
  canvas.dataset.nodes = String(cy.nodes().length);
  canvas.dataset.edges = String(cy.edges().length);
  view.querySelector(".zoom").addEventListener("click", (event) => {
    const action = event.target.closest("button")?.dataset.zoom;
    if (action === "fit") cy.fit(undefined, 30);
    else if (action) cy.zoom({ level: cy.zoom() * (action === "in" ? 1.3 : 1 / 1.3), renderedPosition: { x: canvas.clientWidth / 2, y: canvas.clientHeight / 2 } });
  });
  fill(legend, legendItems(data, ctx, cy));
  lists.append(listView(data, ctx));
  return () => cy.destroy();
}

async function neighbourhood(id, params) {
  const depth = Number(params.get("depth")) || 1;
  const semantic = params.get("semantic") !== "0";
  const around = await get(`/graph/neighbors/${encodeURIComponent(id)}`, { depth, include_semantic: semantic, semantic_limit: 8 });
  const nodes = [around.center, ...around.graph_neighbors, ...around.semantic_neighbors];
  const similar = around.semantic_neighbors.map((node) => ({ id: `${id}~${node.id}`, source: id, target: node.id, type: SIMILAR, strength: node.similarity }));
  return {
    nodes,
    edges: [...around.edges, ...similar],
    caption: [
      `Around “${snippet(around.center.content, 70)}”: ${around.graph_neighbors.length} linked within ${depth} ${depth === 1 ? "hop" : "hops"}`,
      semantic ? `, ${around.semantic_neighbors.length} nearest by meaning (dashed).` : ".",
      " ",
      h("a", { href: `#/memory/${encodeURIComponent(id)}` }, "Open this memory"),
    ],
  };
}

async function snapshot(params) {
  const limit = Number(params.get("limit")) || DEFAULT_SNAPSHOT_LIMIT;
  const answer = await get("/graph/snapshot", { limit, types: params.get("type"), min_importance: params.get("min_importance") });
  const { stats } = answer;
  return {
    nodes: answer.nodes,
    edges: answer.edges,
    caption: stats.sampled
      ? `Showing the ${stats.returned_nodes.toLocaleString()} most important of ${stats.matching_nodes.toLocaleString()} memories, with the ${stats.returned_edges.toLocaleString()} relations among them.`
      : `${stats.returned_nodes.toLocaleString()} memories and ${stats.returned_edges.toLocaleString()} relations.`,
  };
}

function controls(id, params) {
  const form = h("form", { class: "graph-controls", "aria-label": "What the graph shows" });
  if (id) {
    form.append(
      h("label", { for: "depth" }, "Hops"),
      h("select", { id: "depth", name: "depth" }, [1, 2, 3].map((n) => h("option", { value: n, selected: String(n) === (params.get("depth") || "1") }, String(n)))),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "semantic", checked: params.get("semantic") !== "0" }), " nearest by meaning"),
      h("a", { href: "#/graph", class: "button quiet" }, "Whole graph"),
    );
  } else {
    const limit = params.get("limit") || String(DEFAULT_SNAPSHOT_LIMIT);
    form.append(
      h("label", { for: "limit" }, "Memories"),
      h("select", { id: "limit", name: "limit" }, SNAPSHOT_LIMITS.map((n) => h("option", { value: n, selected: String(n) === limit }, `up to ${n.toLocaleString()}`))),
      h("label", { for: "graph-min-importance" }, "Importance at least"),
      h("input", { id: "graph-min-importance", name: "min_importance", type: "number", min: "0", max: "1", step: "0.1", value: params.get("min_importance") || "" }),
    );
  }
  form.addEventListener("change", () => {
    const chosen = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value !== "") chosen.set(name, value === "on" ? "1" : String(value));
    if (id && !chosen.has("semantic")) chosen.set("semantic", "0");
    location.hash = `${id ? `#/graph/${encodeURIComponent(id)}` : "#/graph"}?${chosen}`;
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  return form;
}

function zoomBar() {
  return h(
    "div",
    { class: "zoom", role: "group", "aria-label": "Zoom" },
    h("button", { type: "button", class: "quiet", "data-zoom": "in", "aria-label": "Zoom in" }, "+"),
    h("button", { type: "button", class: "quiet", "data-zoom": "out", "aria-label": "Zoom out" }, "−"),
    h("button", { type: "button", class: "quiet", "data-zoom": "fit" }, "Fit"),
  );
}

function legendItems(data, ctx, cy) {
  const types = [...new Set(data.nodes.map((node) => node.type))].sort();
  const relations = [...new Set(data.edges.map((edge) => edge.type))].sort();
  const swatch = (colour, text, kind) => {
    const item = h("li", { class: `swatch ${kind}` }, text);
    item.style.setProperty("--swatch", colour);
    return item;
  };
  // each relation is a toggle: hiding the densest ones (PRECEDED_BY, SIMILAR_TO) shows the rest
  const toggle = (rel) => {
    const button = h("button", { type: "button", class: `swatch edge${rel === SIMILAR ? " dashed" : ""}`, "aria-pressed": "true", "data-relation": rel }, rel);
    button.style.setProperty("--swatch", rel === SIMILAR ? "#94A3B8" : colourOf(ctx.palette.relations, rel));
    button.addEventListener("click", () => {
      const shown = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(shown));
      cy.edges().filter((edge) => edge.data("type") === rel).toggleClass("hidden", !shown);
    });
    return h("li", {}, button);
  };
  return [
    h("ul", { class: "legend-list", "aria-label": "Memory types" }, types.map((type) => swatch(colourOf(ctx.palette.types, type), type, "node"))),
    h("ul", { class: "legend-list", "aria-label": "Relations shown (press to hide or show)" }, relations.map(toggle)),
  ];
}

function listView(data, ctx) {
  const byId = new Map(data.nodes.map((node) => [node.id, node]));
  const name = (nodeId) => snippet(byId.get(nodeId)?.content || nodeId, 60);
  return h(
    "div",
    { class: "graph-list-columns" },
    h(
      "section",
      {},
      h("h2", {}, `Memories (${data.nodes.length})`),
      h("ul", { class: "graph-nodes" }, data.nodes.map((node) => h("li", { "data-id": node.id }, h("a", { href: `#/memory/${encodeURIComponent(node.id)}` }, snippet(node.content, 80)), h("span", { class: "muted" }, ` ${node.type}`)))),
    ),
    h(
      "section",
      {},
      h("h2", {}, `Relations (${data.edges.length})`),
      h(
        "ul",
        { class: "graph-edges" },
        data.edges.map((edge) => h("li", { "data-source": edge.source, "data-target": edge.target, "data-type": edge.type }, `${name(edge.source)} — ${edge.type} → ${name(edge.target)}`)),
      ),
    ),
  );
}

function snippet(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

const STYLE = [
  {
    selector: "node",
    style: {
      "background-color": "data(colour)",
      width: "data(size)",
      height: "data(size)",
      label: "data(label)",
      color: "#1f2933",
      "font-size": 9,
      "min-zoomed-font-size": 7,
      "text-wrap": "ellipsis",
      "text-max-width": 120,
      "text-valign": "bottom",
      "text-margin-y": 3,
      "border-width": 1,
      "border-color": "#ffffff",
    },
  },
  { selector: "node.centre", style: { "border-width": 4, "border-color": "#1f3a5f", "font-weight": "bold" } },
  { selector: "node:selected", style: { "border-width": 3, "border-color": "#f4a261" } },
  {
    selector: "edge",
    style: {
      width: "data(width)",
      "line-color": "data(colour)",
      "target-arrow-color": "data(colour)",
      "target-arrow-shape": "triangle",
      "arrow-scale": 0.8,
      "curve-style": "bezier",
      opacity: 0.8,
    },
  },
  { selector: "edge.similar", style: { "line-style": "dashed", "target-arrow-shape": "none", opacity: 0.6 } },
  { selector: "edge.hidden", style: { display: "none" } },
  { selector: "node.crowded", style: { "min-zoomed-font-size": 14 } }, // the whole graph: labels once zoomed in
];
