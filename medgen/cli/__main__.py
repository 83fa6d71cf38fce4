"""``python -m medgen.cli``: the same as the ``medgen`` console script."""

from medgen.cli import main

main()
