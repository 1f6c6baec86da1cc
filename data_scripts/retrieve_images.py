#!/usr/bin/env python3
"""The command unimo-retrieve-images, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.retrieve_images import cli_main

if __name__ == "__main__":
    cli_main()
