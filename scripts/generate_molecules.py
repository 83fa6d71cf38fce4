"""Generate candidate molecules for screening (CSV + SDF) from a trained molecular VAE.

    python scripts/generate_molecules.py -n 1000 --model runs/mol --out candidates/
    python scripts/generate_molecules.py -n 200 --model runs/mol \
        --seed-smiles 'CC(=O)Oc1ccccc1C(=O)O' --out analogues/

The same as `medgen mol generate`; see `--help` for every option.
"""

import sys

import typer

from medgen.cli.mol import mol_generate
from training.errors import MedgenError

if __name__ == "__main__":
    try:
        typer.run(mol_generate)
    except MedgenError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
