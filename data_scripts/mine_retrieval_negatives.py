#!/usr/bin/env python3
"""The command unimo-mine-retrieval-negatives, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.mine_retrieval_negatives import cli_main

if __name__ == "__main__":
    cli_main()
