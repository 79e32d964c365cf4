"""Query languages over the case: translators to DuckDB SQL and the safe runner."""
