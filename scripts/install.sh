#!/usr/bin/env bash
# `make install`: puts romana's commands on the PATH the way `npm install -g` lays a package out:
# the package in $PREFIX/lib/node_modules/romana (built dist/, the bin/ shims, production dependencies
# only) and a link per command in $PREFIX/bin. PREFIX defaults to npm's global prefix; DESTDIR stages it.
# `make uninstall` removes exactly that.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-$(npm prefix -g)}
LIB="${DESTDIR:-}$PREFIX/lib/node_modules/romana"
BIN="${DESTDIR:-}$PREFIX/bin"
cmds=$(node -e 'console.log(Object.keys(require("./package.json").bin).join(" "))')
if [ "${1:-}" = uninstall ]; then
  for c in $cmds; do rm -f "$BIN/$c"; done
  rm -rf "$LIB"
  echo "removed romana from $PREFIX"
  exit 0
fi
[ -f dist/romana.mjs ] || { echo "install: dist/ is not built (make build)" >&2; exit 1; }
rm -rf "$LIB"
mkdir -p "$LIB" "$BIN"
cp -a package.json package-lock.json bin dist "$LIB/"
cp -a node_modules "$LIB/"
# Development tools (compilers, test browsers) are not needed to run: npm drops them, offline.
(cd "$LIB" && npm prune --omit=dev --offline --no-audit --no-fund --loglevel=error)
for c in $cmds; do ln -sfn "../lib/node_modules/romana/bin/$c" "$BIN/$c"; done
echo "installed $cmds in $PREFIX/bin"
