// The /viewer/* page's script (loci/api/viewer_redirect.py): open the graph viewer at the
// target the server wrote into this script tag, telling it which API to call (server=<this
// origin>, unless the link already named one) and keeping the #token fragment, which never
// leaves the browser.
(function () {
  "use strict";
  var script = document.currentScript;
  var target = new URL(script.getAttribute("data-target"));
  if (target.protocol !== "https:" && target.protocol !== "http:") {
    return;
  }
  if (!target.searchParams.has("server")) {
    target.searchParams.set("server", window.location.origin);
  }
  target.hash = window.location.hash;
  window.location.replace(target.toString());
})();
