// Renders the API description with Swagger UI. It lives in a file of its own,
// not inline in the page, so that the page's Content-Security-Policy can
// forbid inline scripts.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 1,
    // The default asks validator.swagger.io about the spec: no third-party calls.
    validatorUrl: null,
  });
});
