#!/usr/bin/env python3
"""The command unimo-make-sample-swaps, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.make_sample_swaps import cli_main

if __name__ == "__main__":
    cli_main()
