// Starts Swagger UI on /docs over this service's /openapi.json. Kept out of the page so the
// page runs under a Content-Security-Policy with no inline script.
"use strict";

window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // no badge fetched from another origin
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
