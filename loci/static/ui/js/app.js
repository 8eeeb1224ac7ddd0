// The memory browser: sign-in, the router between sections, and the live event stream they share.
// Routes live in the URL fragment (#/memories?q=..., #/memory/<id>, #/graph/<id>, #/activity), so
// the back button and bookmarks work and no route ever reaches the server.

import { ApiError, get, getToken, setToken } from "./api.js";
import { fill, h } from "./dom.js";
import { openStream } from "./stream.js";
import * as activity from "./views/activity.js";
import * as graph from "./views/graph.js";
import * as memories from "./views/memories.js";
import * as memory from "./views/memory.js";

const view = document.getElementById("view");
const sections = document.getElementById("sections");
const signOut = document.getElementById("sign-out");
const live = document.getElementById("live");

const listeners = new Set();
const ctx = {
  palette: { types: {}, relations: {} },
  types: [],
  relations: [],
  /** Subscribe to live events; returns the unsubscribe function. */
  onEvent(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

let stream = null;
let cleanup = null;
let signedIn = false;

const ROUTES = [
  [/^#\/memory\/([^/?]+)$/, (match) => memory.render(view, decodeURIComponent(match[1]), ctx)],
  [/^#\/graph(?:\/([^/?]+))?(?:\?.*)?$/, (match) => graph.render(view, match[1] ? decodeURIComponent(match[1]) : null, ctx)],
  [/^#\/activity$/, () => activity.render(view, ctx)],
  [/^#\/memories(?:\?(.*))?$/, (match) => memories.render(view, new URLSearchParams(match[1] || ""), ctx)],
];

/** A link made for AutoMem's viewer may carry the token as `#token=...`: keep it for this tab, out of the URL. */
function adoptTokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.replace(/^#\/?/, ""));
  const token = fragment.get("token");
  if (token) {
    setToken(token);
    history.replaceState(null, "", `${location.pathname}#/memories`);
  }
}

async function route() {
  if (!signedIn) return;
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash || "#/memories";
  const section = hash.split(/[/?]/)[1] || "memories";
  for (const link of sections.querySelectorAll("a")) {
    const current = link.dataset.section === section || (section === "memory" && link.dataset.section === "memories");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const [pattern, show] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      cleanup = (await show(match)) || null;
      return;
    }
  }
  location.replace("#/memories");
}

/** Load what every section needs (the type and relation palettes); false when the token is refused. */
async function connect() {
  try {
    const [types, relations] = await Promise.all([get("/graph/types"), get("/graph/relations")]);
    ctx.types = types.types;
    ctx.palette.types = types.colors;
    ctx.relations = relations.relations;
    ctx.palette.relations = relations.colors;
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    throw error;
  }
}

function showSignIn(message) {
  signedIn = false;
  sections.hidden = true;
  signOut.hidden = true;
  if (stream) stream.close();
  stream = null;
  live.textContent = "";
  const error = h("p", { class: "error", id: "sign-in-error", role: "alert" }, message || "");
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "aria-describedby": "sign-in-help sign-in-error",
  });
  const form = h(
    "form",
    { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h(
      "p",
      { id: "sign-in-help", class: "muted" },
      "Enter this service's API token (AUTOMEM_API_TOKEN). It is kept in this tab only and sent with each request.",
    ),
    h("label", { for: "token" }, "API token"),
    input,
    error,
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    error.textContent = "";
    try {
      if (await connect()) return start(true);
      setToken(null);
      error.textContent = "That token was refused by the service. Check it and try again.";
    } catch (failure) {
      setToken(null);
      error.textContent = failure.message;
    }
    input.select();
  });
  fill(view, form);
  input.focus();
}

function start(withToken) {
  signedIn = true;
  sections.hidden = false;
  signOut.hidden = !withToken;
  stream = openStream(
    (event) => listeners.forEach((listener) => listener(event)),
    (state) => {
      live.textContent = state === "live" ? "Live" : "Reconnecting…";
      live.className = `live ${state}`;
    },
  );
  if (!location.hash.startsWith("#/")) location.replace("#/memories");
  route();
}

async function boot() {
  adoptTokenFromFragment();
  try {
    if (await connect()) start(Boolean(getToken()));
    else showSignIn(getToken() ? "The saved token was refused. Sign in again." : "");
  } catch (error) {
    fill(view, h("p", { class: "error", role: "alert" }, `The service cannot be reached: ${error.message}`));
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("loci:unauthorized", () => {
  if (signedIn) {
    setToken(null);
    showSignIn("The service refused the token. Sign in again.");
  }
});
signOut.addEventListener("click", () => {
  setToken(null);
  showSignIn("Signed out.");
});

boot();
