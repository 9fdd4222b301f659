// GraphiQL against this gateway: queries over HTTP, subscriptions over graphql-ws on the same
// path. Paste `{"Authorization": "Bearer <accessToken>"}` into the headers tab.
(function () {
  function address(path, socket) {
    const url = new URL(path, window.location.origin);
    if (socket) {
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    }
    return url.toString();
  }
  const fetcher = GraphiQL.createFetcher({
    url: address("/graphql", false),
    subscriptionUrl: address("/graphql", true),
  });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true }),
  );
})();
