#!/usr/bin/env python3
"""The command unimo-binarize-seq2seq, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.binarize_seq2seq import cli_main

if __name__ == "__main__":
    cli_main()
