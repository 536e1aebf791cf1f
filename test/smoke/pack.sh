#!/usr/bin/env bash
# Packs the package as npm would publish it, installs the tarball into an empty project and
# loads every entry from ESM (import) and CommonJS (require). Run after `npm run build`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -n 1)
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "./$tarball" >/dev/null
# Run copies from inside the temporary project, so `floodgate` resolves to the installed tarball
# and never to this checkout by the package's own name.
cp "$root/test/smoke/entries.mjs" "$root/test/smoke/entries.cjs" .
node entries.mjs
node entries.cjs
