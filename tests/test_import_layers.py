"""The package's layering (.importlinter, docs/architecture.md) holds: no module imports from a layer
above its own, and the packages declared independent do not import each other."""
import os

from importlinter import configuration
from importlinter.application.use_cases import lint_imports

from unimo_plugin.testing.commands import REPO_ROOT


def test_import_contracts_are_kept(capsys):
    # What the lint-imports command runs, less its logging set-up, which reconfigures logging for the
    # whole process (closing pytest's handlers and disabling every logger that exists).
    configuration.configure()
    kept = lint_imports(config_filename=os.path.join(REPO_ROOT, ".importlinter"), cache_dir=None, no_logo=True)
    assert kept, capsys.readouterr().out
