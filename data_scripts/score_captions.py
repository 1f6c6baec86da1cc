#!/usr/bin/env python3
"""The command unimo-score-captions, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.score_captions import cli_main

if __name__ == "__main__":
    cli_main()
