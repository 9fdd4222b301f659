#!/usr/bin/env bash
# Rebuilds the playground the gateway serves (api/assets/playground) from playground/: GraphiQL,
# React and Monaco's workers at the versions pinned by playground/package-lock.json, bundled
# by esbuild into files that carry GraphiQL's version in their name. Run by hand when
# upgrading and commit the result: the Rust build never runs npm, and the page never loads
# anything from outside the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
src=playground
out=api/assets/playground
npm ci --prefix "$src" --no-audit --no-fund --ignore-scripts >/dev/null
# esbuild's binary comes as an optional dependency for each platform (no install script needed).
esbuild=$src/node_modules/.bin/esbuild
version=$(node -p "require('./$src/node_modules/graphiql/package.json').version")
rm -f "$out"/graphiql-*.js "$out"/graphiql-*.css "$out"/*.worker-*.js "$out"/react-*.js "$out"/LICENSE-*
common=(--bundle --minify --format=iife --target=es2022 --legal-comments=none)
"$esbuild" "$src/src/main.js" "${common[@]}" --define:__GRAPHIQL__="\"$version\"" \
    --define:process.env.NODE_ENV='"production"' --loader:.ttf=dataurl --outfile="$out/graphiql-$version.js"
for worker in editor:monaco-editor/esm/vs/editor/editor.worker.js \
    json:monaco-editor/esm/vs/language/json/json.worker.js graphql:monaco-graphql/esm/graphql.worker.js; do
    "$esbuild" "$src/node_modules/${worker#*:}" "${common[@]}" --outfile="$out/${worker%%:*}.worker-$version.js"
done
# Every bundled package's licence, in one file.
(cd "$src" && node -e '
  const fs = require("fs"), lock = require("./package-lock.json");
  for (const [path, info] of Object.entries(lock.packages)) {
    if (!path || info.dev) continue;
    const dir = path, name = path.replace(/^.*node_modules\//, "");
    const file = fs.readdirSync(dir).find((f) => /^(licen[sc]e|copying)/i.test(f));
    const text = file ? fs.readFileSync(dir + "/" + file, "utf8").trim() : "(" + (info.license ?? "no licence file") + ")";
    console.log("## " + name + " " + info.version + "\n\n" + text + "\n");
  }') > "$out/THIRD-PARTY-LICENSES.md"
(cd "$out" && sha256sum ./graphiql-*.js ./graphiql-*.css ./*.worker-*.js > SHA256SUMS)
echo "bundled graphiql $version into $out; update api/src/http/playground.rs's names" >&2
