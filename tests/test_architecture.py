"""The house's import rules ([tool.importlinter] in pyproject.toml), run by import-linter:
they hold on the tree, and they catch an upward import, a sideways one between libraries
and an import circle (a type-only one included) planted in a copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("medgen", "kg", "molgen", "imaging", "training")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("lint-imports")
    assert command.exists(), "import-linter is a dev dependency: run scripts/setup.sh"
    # the copy's packages come first on the path (the editable install's finder comes last)
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(command), "--no-cache", "--config", str(root / "pyproject.toml")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_the_rules(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("files", "broken"), [
    ({"kg/planted.py": "from medgen.errors import RunError\n"}, "medgen composes"),
    ({"training/planted.py": "def f():\n    import molgen.chem\n"}, "medgen composes"),
    ({"kg/planted.py": "import molgen.chem\n"}, "medgen composes"),
    ({"molgen/planted_a.py": "import molgen.planted_b\n",
      "molgen/planted_b.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                             "    import molgen.planted_a\n"}, "no import circles"),
    ({"medgen/planted_a.py": "from medgen.cli import output\n",
      "medgen/cli/planted_b.py": "import medgen.planted_a\n"}, "no import circles"),
], ids=["upward", "upward-inside-a-function", "sideways", "type-only-circle", "app-circle"])
def test_a_planted_breach_breaks_a_rule(tree, files, broken):
    for name, text in files.items():
        (tree / name).write_text(text)
    result = lint_imports(tree)
    assert result.returncode != 0
    verdicts = [line for line in result.stdout.splitlines() if line.endswith(("KEPT", "BROKEN"))]
    assert [line for line in verdicts if line.endswith("BROKEN")] == [
        line for line in verdicts if line.startswith(broken)], result.stdout
