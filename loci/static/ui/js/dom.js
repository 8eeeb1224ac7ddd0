// Building the page safely: every text goes in through textContent, never as HTML.

/** An element: `h("a", {href: "#/x", class: "tag"}, "text", otherNode)`. `on*` attributes take functions. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "3 minutes ago", "in 2 hours", from an ISO timestamp. */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "never";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return String(iso);
  const seconds = Math.round((then - now) / 1000);
  const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(seconds, "second");
}

/** A <time> element showing the relative time, the exact one on hover. */
export function timeEl(iso) {
  if (!iso) return h("span", { class: "muted" }, "never");
  const exact = new Date(iso);
  return h("time", { datetime: iso, title: Number.isNaN(exact.getTime()) ? iso : exact.toLocaleString() }, relativeTime(iso));
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A short message at the bottom of the screen, read out by screen readers. */
export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.className = `toast shown ${kind}`;
  box.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("shown"), 4000);
}

/** Ask before doing something that cannot be undone. Resolves true when confirmed. */
export function confirmAction(question, actionLabel) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-question" });
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    fill(
      dialog,
      h("p", { id: "confirm-question" }, question),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "quiet", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: "danger", onclick: () => close(true) }, actionLabel),
      ),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("button.quiet").focus();
  });
}

/** The colour the API gives a memory type or relation, or a neutral grey. */
export function colourOf(palette, name) {
  return (palette && palette[name]) || "#78716C";
}

/** A small coloured badge for a memory type. */
export function typeBadge(type, palette) {
  const badge = h("span", { class: "badge" }, type);
  badge.style.setProperty("--badge", colourOf(palette, type));
  return badge;
}

/** Tag chips; entity tags (entity:people:alice) in their own style. */
export function tagList(tags) {
  if (!tags || !tags.length) return h("span", { class: "muted" }, "no tags");
  return h(
    "ul",
    { class: "tags", "aria-label": "Tags" },
    tags.map((tag) => h("li", { class: tag.startsWith("entity:") ? "tag entity" : "tag" }, tag)),
  );
}
