#!/usr/bin/env bash
# Rebuilds the GraphiQL bundle the gateway embeds, from the pinned
# package-lock.json, into internal/httpserver/graphiql/assets/.
# Needs Node.js (20+) and the npm registry; commit the assets it writes.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
npm run build
