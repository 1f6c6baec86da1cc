"""What the tests, the benchmarks and the demo build on, and the plugin never imports: synthetic data
in the public formats over one vocabulary, the sample-data builder, tiny models, and running the
commands as a user would."""
