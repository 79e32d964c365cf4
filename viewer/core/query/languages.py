"""The query languages a case answers in (`runner.translate` turns each into DuckDB SQL). Apart
from the runner, so that naming them (the CLI's `--lang` choices) does not load it."""

LANGUAGES = ("sql", "kql", "insights")
