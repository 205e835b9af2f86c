{% comment %}
Start-up script of /api/docs/. It loads the OpenAPI document itself (not through Swagger UI's
`url`), so that when the document needs a token (API_DOCS_PUBLIC=false) the page still shows
an Authorize button: until the document is loaded Swagger UI shows a placeholder document with
only the Token security scheme. Authorize (value: the bare key or `Token <key>`) loads the document again with
that Authorization header; Swagger UI then sends the same header with "Try it out".
{% endcomment %}"use strict";
(function () {
  const schemaUrl = new URL("{{ schema_url|escapejs }}", document.baseURI).href;
  const swaggerSettings = {{ settings|safe }};
  const authName = {{ auth_name|safe }};
  const securityScheme = {{ security_scheme|safe }};
  let authorization = null;

  const placeholder = (note) => ({
    openapi: "3.0.3",
    info: { title: "{{ title|escapejs }}", version: "", description: note },
    paths: {},
    components: { securitySchemes: { [authName]: securityScheme } },
  });
  const NEEDS_TOKEN =
    "The API document needs an API token. Click **Authorize** and paste the key (`Token ` is added " +
    "when missing; any scope; an operator creates one with `python manage.py create_api_token NAME …`).";

  let ui = null;
  // A new Swagger UI for each document: swapping the document inside one instance (from the
  // placeholder to the API's) breaks its Models section (React error #310).
  const render = (spec, loaded) => {
    const container = document.createElement("div");
    container.id = "swagger-ui";
    document.getElementById("swagger-ui").replaceWith(container);
    ui = SwaggerUIBundle({
      spec,
      domNode: container,
      presets: [SwaggerUIBundle.presets.apis],
      plugins: [tokenPlugin],
      layout: "BaseLayout",
      ...swaggerSettings,
    });
    window.ui = ui;
    if (loaded) {
      ui.specActions.updateUrl(schemaUrl);  // "Try it out" resolves paths against it
    }
    if (authorization) {
      ui.preauthorizeApiKey(authName, authorization);  // same value: no new load
    }
  };

  const load = async () => {
    const headers = { Accept: "application/json" };
    if (authorization) {
      headers.Authorization = authorization;
    }
    let response;
    try {
      response = await fetch(schemaUrl, { headers, credentials: "same-origin" });
    } catch (error) {
      render(placeholder("The API document could not be loaded: " + error), false);
      document.body.setAttribute("data-schema", "error");
      return;
    }
    if (response.ok) {
      render(await response.json(), true);
      document.body.setAttribute("data-schema", "loaded");
    } else if (response.status === 401 || response.status === 403) {
      render(placeholder(authorization
        ? "The token was refused (HTTP " + response.status + "). Click **Authorize**, log out and paste a valid key."
        : NEEDS_TOKEN), false);
      document.body.setAttribute("data-schema", "needs-token");
    } else {
      render(placeholder("The API document could not be loaded (HTTP " + response.status + ")."), false);
      document.body.setAttribute("data-schema", "error");
    }
  };

  const withTokenPrefix = (raw) => {
    const value = String(raw).trim();
    return /^token\s+/i.test(value) ? "Token " + value.replace(/^token\s+/i, "") : "Token " + value;
  };

  // Authorize / log out: remember the header value and load the document again.
  function tokenPlugin() {
    return {
      statePlugins: {
        auth: {
          wrapActions: {
            authorize: (original) => (payload) => {
              // The key as create_api_token / `make run` print it, or "Token <key>": both work.
              const entry = payload && payload[authName];
              const value = entry && entry.value ? withTokenPrefix(entry.value) : null;
              if (value) {
                payload = { ...payload, [authName]: { ...entry, value } };
              }
              const result = original(payload);
              if (value && value !== authorization) {
                authorization = value;
                setTimeout(load);
              }
              return result;
            },
            logout: (original) => (names) => {
              const result = original(names);
              if (authorization) {
                authorization = null;
                setTimeout(load);
              }
              return result;
            },
          },
        },
      },
    };
  }

  render(placeholder("Loading the API document …"), false);
  load();
})();
