// GraphiQL against this gateway: queries over HTTP, subscriptions over graphql-ws on the same
// path. Paste `{"Authorization": "Bearer <accessToken or API key>"}` into the headers tab.
import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { createClient } from "graphql-ws";
import "graphiql/style.css";

// Monaco's workers are files of this gateway too (no blob: or CDN workers).
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    const name = label === "json" || label === "graphql" ? label : "editor";
    return new Worker(`/playground/${name}.worker-${__GRAPHIQL__}.js`);
  },
};

function address(path, socket) {
  const url = new URL(path, window.location.origin);
  if (socket) url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

const fetcher = createGraphiQLFetcher({
  url: address("/graphql", false),
  subscriptionUrl: address("/graphql", true),
});
createRoot(document.getElementById("graphiql")).render(
  createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }),
);
