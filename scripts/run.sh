#!/usr/bin/env bash
# The main job: set up if needed, then `medgen run` (start the managed Neo4j, build and
# complete the default knowledge graph, generate molecules and images, write the report).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/medgen run "$@"
