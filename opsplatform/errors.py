"""Refusals: business-rule and bad-input errors that name what is wrong and where."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

KEPT = 1000  # problems listed: on stderr, in JSON, on a page and in an error workbook


# Codes of problems that a surface answers in its own way (a command line offers an option,
# a page a choice); the others need no code, their message says it all.
TARIFF_FROZEN = "tariff_frozen"  # a changed tariff of a year with issued statements
CLIENT_NEEDED = "client_needed"  # a client user named without its client council
TARIFFS_UNSET = "tariffs_unset"  # a budget year estimated before its tariffs are loaded


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (sheet or file, row, column) and why, and for
    a problem a surface answers in its own way, a machine-readable `code`."""

    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    code: str | None = None

    def __str__(self) -> str:
        where = []
        if self.sheet:
            where.append(f"sheet {self.sheet}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "code": self.code,
        }


class Problems:
    """Problems as they are found: how many in all, and the first KEPT of them in `order`
    (by default the order found), so that a file with millions of bad rows costs no more
    memory than one with a thousand. A problem found late but ordered early still takes
    its place among the first."""

    def __init__(
        self, order: Callable[[Problem], tuple[object, ...]] = lambda _problem: ()
    ) -> None:
        self.order = order
        self.total = 0
        self._kept: list[tuple[tuple[object, ...], Problem]] = []
        self._bar: tuple[object, ...] | None = None  # the key of the last kept, once KEPT are

    def append(self, problem: Problem) -> None:
        self.total += 1
        key = (self.order(problem), self.total)
        if self._bar is not None and key > self._bar:
            return
        self._kept.append((key, problem))
        if len(self._kept) >= 2 * KEPT:
            self._trim()

    def __iadd__(self, problems: Iterable[Problem]) -> Problems:
        for problem in problems:
            self.append(problem)
        return self

    def __bool__(self) -> bool:
        return self.total > 0

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.kept())

    def kept(self) -> list[Problem]:
        """The first KEPT problems, in order."""
        self._trim()
        return [problem for _, problem in self._kept]

    def _trim(self) -> None:
        self._kept.sort(key=lambda entry: entry[0])
        del self._kept[KEPT:]
        if len(self._kept) == KEPT:
            self._bar = self._kept[-1][0]


class Refused(Exception):
    """The action was refused and nothing was written. `problems` lists the reasons (the
    first KEPT of them) and `total` counts them all."""

    def __init__(self, problems: Problems | Iterable[Problem | str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        if not isinstance(problems, Problems):
            found = Problems()
            found += (p if isinstance(p, Problem) else Problem(p) for p in problems)
            problems = found
        self.problems = problems.kept()
        self.total = problems.total
        message = "; ".join(str(p) for p in self.problems)
        super().__init__(message + (f"; {self.unlisted()}" if self.unlisted() else ""))

    def unlisted(self) -> str | None:
        """What to say of the problems not listed, when there are any."""
        if self.total <= len(self.problems):
            return None
        return (
            f"{self.total - len(self.problems):,} more problems are not listed: these are "
            f"the first {len(self.problems):,} of {self.total:,}"
        )
