#!/usr/bin/env bash
# The main job: set up if needed, start the managed Neo4j, build the default
# knowledge graph, print its statistics and example Cypher queries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/medgen run "$@"
