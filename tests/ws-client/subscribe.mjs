// Subscribes with the reference `graphql-ws` client (graphql-transport-ws protocol) and
// prints one JSON line per message: {"next": result}, {"error": ...} or {"complete": true}.
// Usage: node subscribe.mjs WS_URL ACCESS_TOKEN QUERY [VARIABLES_JSON]
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, query, variables = '{}'] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
  retryAttempts: 0,
  lazy: true,
});

const print = (message) => process.stdout.write(JSON.stringify(message) + '\n');
try {
  for await (const result of client.iterate({ query, variables: JSON.parse(variables) })) {
    print({ next: result, receivedAt: Date.now() });
  }
  print({ complete: true });
} catch (error) {
  // A refused connection arrives as a CloseEvent; GraphQL errors as an array.
  const detail = error && error.code !== undefined ? { code: error.code, reason: error.reason } : error;
  print({ error: detail });
} finally {
  await client.dispose();
}
