"""The ``fieldbridge`` command line: every Typer command (``cli.main:app``)."""
