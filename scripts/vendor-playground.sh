#!/usr/bin/env bash
# Refreshes the playground's vendored GraphiQL and React (api/assets/playground) from the npm
# registry at the versions below, so the gateway serves them itself: no CDN at run time.
# Run by hand when upgrading; the build never downloads them.
set -euo pipefail
cd "$(dirname "$0")/.."
GRAPHIQL=3.9.0
REACT=18.3.1
out=api/assets/playground
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for package in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
    mkdir -p "$work/$package" && tar xzf "$work/$package.tgz" -C "$work/$package"
done
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" "$out/graphiql-$GRAPHIQL.min.js"
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" "$out/graphiql-$GRAPHIQL.min.css"
cp "$work/react-$REACT/package/umd/react.production.min.js" "$out/react-$REACT.production.min.js"
cp "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" "$out/react-dom-$REACT.production.min.js"
# The source maps are not vendored: a browser's developer tools would ask for them and get 404.
sed -i '/^\/\/# sourceMappingURL=/d' "$out"/*.min.js "$out"/*.min.css
cp "$work/graphiql-$GRAPHIQL/package/LICENSE" "$out/LICENSE-graphiql"
cp "$work/react-$REACT/package/LICENSE" "$out/LICENSE-react"
(cd "$out" && sha256sum ./*.min.js ./*.min.css > SHA256SUMS)
echo "vendored graphiql $GRAPHIQL and react $REACT into $out; update api/src/http/playground.rs's names" >&2
