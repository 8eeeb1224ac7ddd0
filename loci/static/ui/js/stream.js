// The live event stream (/stream, server-sent events) read with fetch, so the request carries the
// Authorization header (EventSource cannot send one, and the token must not go in the URL).
// Reconnects with a growing pause after a drop; stops for good on 401 or close().

import { authHeaders } from "./api.js";

export function openStream(onEvent, onState) {
  let stopped = false;
  let controller = null;
  let pause = 1000;

  async function readOnce() {
    controller = new AbortController();
    const response = await fetch("/stream", {
      headers: { Accept: "text/event-stream", ...authHeaders() },
      signal: controller.signal,
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401) {
      stopped = true;
      window.dispatchEvent(new CustomEvent("loci:unauthorized"));
      return;
    }
    if (!response.ok || !response.body) throw new Error(`the stream answered ${response.status}`);
    onState("live");
    pause = 1000;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (!data) continue; // a comment line (": keepalive")
        try {
          onEvent(JSON.parse(data));
        } catch {
          // not JSON: not an event of ours
        }
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await readOnce();
      } catch {
        // dropped or refused; try again below
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 15000);
    }
  })();

  return {
    close() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}
