#!/usr/bin/env python3
"""The command unimo-convert-official, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.convert_official_unimo import cli_main

if __name__ == "__main__":
    cli_main()
