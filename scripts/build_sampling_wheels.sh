#!/usr/bin/env bash
# Neighbour-sampled training (LinkPredictionConfig.num_neighbors) needs PyG's
# sampler backend: pyg-lib or torch-sparse. Neither has a PyPI wheel for our
# torch, so build torch-scatter and torch-sparse from their sdists once (against
# the torch already in .venv; minutes to tens of minutes on a few cores) into a
# cache outside the repository, then install them from there. Idempotent: an
# existing wheel is never rebuilt. scripts/setup.sh installs cached wheels but
# never builds them.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=${MEDGEN_WHEELS:-$HOME/.cache/medgen/wheels}
pip=(.venv/bin/python -m pip)
.venv/bin/python -c "import torch" 2>/dev/null || {
  echo "build_sampling_wheels: torch is not installed in .venv; run scripts/setup.sh first" >&2
  exit 1
}
mkdir -p "$wheels"
for spec in torch_scatter:2.1.2 torch_sparse:0.6.18; do
  name=${spec%%:*} version=${spec##*:}
  if ! ls "$wheels/$name-$version-"*.whl >/dev/null 2>&1; then
    echo "build_sampling_wheels: building $name $version (slow)" >&2
    # no build isolation: the extension must compile against .venv's torch
    "${pip[@]}" wheel --no-deps --no-build-isolation -w "$wheels" "${name//_/-}==$version"
  fi
done
"${pip[@]}" install --quiet --no-index --find-links "$wheels" torch-scatter torch-sparse
.venv/bin/python -c "import torch_geometric.typing as t; assert t.WITH_TORCH_SPARSE" \
  2>/dev/null || {
  echo "build_sampling_wheels: torch-sparse installed but PyG cannot load it (wheels built" \
    "for another torch? delete $wheels/torch_s*.whl and rerun)" >&2
  exit 1
}
echo "build_sampling_wheels: torch-scatter and torch-sparse installed from $wheels" >&2
