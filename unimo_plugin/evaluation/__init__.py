"""Metrics, and the scoring of checkpoints and generated text the ``unimo-eval-*`` and ``unimo-score-*``
commands (unimo_plugin/cli/) print."""
