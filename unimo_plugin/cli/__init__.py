"""The ``unimo-*`` commands (setup.py installs them): one module per command, holding its argument parsing,
what it prints and its exit codes, beside the option groups several share and their runner (runner.py)."""
