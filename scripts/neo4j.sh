#!/usr/bin/env bash
# Thin wrapper: scripts/neo4j.sh start|stop|status|install
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/medgen neo4j "$@"
