#!/usr/bin/env bash
# The web app's checks: its TypeScript types are the ones generated from the server's OpenAPI
# document, strict type check, component tests (Vitest), a fresh build equals the committed
# build the server embeds (spectra-server/web-dist), then the browser tests: Debian's Chromium
# against a real `spectra serve` and real `spectra agent` processes (e2e/run.mjs), saving a
# screenshot of every page in both themes under web/screenshots/.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spectra-target}"
command -v node >/dev/null && command -v npm >/dev/null || { echo "web/test.sh: node and npm are required" >&2; exit 2; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "web/test.sh: Chromium is required at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)" >&2; exit 2; }

# `npm ci` would miss Vite's platform binary (npm leaves other platforms' optional packages
# out of the lockfile); install resolves it for this machine.
npm install --no-audit --no-fund --loglevel=error

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

echo "-- web: types generated from openapi.json are current"
npx openapi-typescript openapi.json -o "$scratch/schema.d.ts" >/dev/null 2>&1
if ! cmp -s "$scratch/schema.d.ts" src/api/schema.d.ts; then
  echo "web/test.sh: src/api/schema.d.ts is stale: run 'npm run gen:api' in web/ and commit it" >&2
  exit 1
fi
echo "-- web: type check (strict)"
npx tsc --noEmit
echo "-- web: component tests"
npx vitest run
echo "-- web: the committed build is this source's"
npx vite build --outDir "$scratch/dist" --emptyOutDir --logLevel error
if ! diff -r "$scratch/dist" ../spectra-server/web-dist; then
  echo "web/test.sh: spectra-server/web-dist is not the build of web/: run 'npm run build' in web/ and commit it" >&2
  exit 1
fi
echo "-- web: browser tests (Chromium, real server and agents)"
cargo build -p spectra-cli --locked --quiet
node e2e/run.mjs
