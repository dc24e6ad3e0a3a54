// Starts Swagger UI on the server's own OpenAPI document. Kept out of
// index.html so that the page's Content-Security-Policy needs no inline
// script.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No call to validator.swagger.io: the page loads nothing from outside.
    validatorUrl: null,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0
  });
});
