"""The ``plateforge`` command line: a thin typer layer over the public Python functions."""
