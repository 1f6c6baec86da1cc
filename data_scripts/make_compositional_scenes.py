#!/usr/bin/env python3
"""The command unimo-make-compositional-scenes, at the path the docs and tests use (its code: unimo_plugin/cli/)."""
from unimo_plugin.cli.make_compositional_scenes import cli_main

if __name__ == "__main__":
    cli_main()
