#!/usr/bin/env python3
"""The command unimo-prepare-vqa, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.prepare_vqa import cli_main

if __name__ == "__main__":
    cli_main()
