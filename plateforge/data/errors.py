"""Errors for bad dataset input, and the collector behind ``--skip-bad``.

Every error names where the problem is (``file``, ``file:line``, ``file#annotation 12``) and what is wrong,
so a user can open the file and fix it. Importers hand each error to a :class:`BadItems`: without
``skip_bad`` the first error is raised; with it, every error is kept, the item is left out, and the
caller reports them all at the end. Labels are never dropped without such a report.
"""

from __future__ import annotations


class DataError(ValueError):
    """A problem with one input item: ``where`` names the file (and line or item), ``what`` says what is wrong."""

    def __init__(self, where: str, what: str):
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what


class BadItems:
    """Collects :class:`DataError` s; raises the first one unless ``skip_bad`` is set."""

    def __init__(self, skip_bad: bool = False):
        self.skip_bad = skip_bad
        self.errors: list[DataError] = []

    def report(self, error: DataError) -> None:
        if not self.skip_bad:
            raise error
        self.errors.append(error)

    def __len__(self) -> int:
        return len(self.errors)
