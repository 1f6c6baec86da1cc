#!/usr/bin/env python3
"""The command unimo-grade-negatives, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.grade_negatives import cli_main

if __name__ == "__main__":
    cli_main()
