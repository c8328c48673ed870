"""Usage rows: the columns of a usage file, and the validator that turns its raw rows into
events for the ledger, or into problems naming each bad cell.

The validator is a tight loop that remembers what each distinct cell value meant (a
`Memo` per column): why, and what it costs a row, is in docs/PERFORMANCE.md ("Usage
import").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from importers import tables as cell
from opsplatform.errors import Problem, Problems
from opsplatform.models import Client, Service, Subscription
from opsplatform.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    LONDON,
    Month,
    london_midnight_utc,
    to_utc,
)
from opsplatform.settings import locked_years

COLUMNS = [
    "event_id",
    "client",
    "service",
    "date",
    "quantity",
    "reference",
    "started_at",
    "completed_at",
    "paused_at",
    "resumed_at",
]
REQUIRED = {"client", "service", "date"}
KNOWN = set(COLUMNS)
ONE = Decimal(1)

Row = dict[str, object]  # a row's cells by column name, as read from a file or posted

# What a column's parser makes of a good cell:
Coded = tuple[str, int]  # a client's or service's code, and its id
# a usage date: its UTC instant, London date and month, and the instant's timestamp
When = tuple[datetime, date, str, str]
Counted = tuple[Decimal, str]  # a quantity, and its text as the fingerprint writes it
Moment = tuple[datetime | None, str]  # a start or completion, and its timestamp ("" if none)
NO_MOMENT: Moment = (None, "")
PAUSE = ("paused_at", "resumed_at")

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")
Dated = TypeVar("Dated", bound=tuple[datetime, *tuple[object, ...]])


def in_file_order(problem: Problem) -> tuple[int, int]:
    """Row by row, and in a row column by column as the file's columns are listed."""
    return problem.row or 0, COLUMNS.index(problem.column) if problem.column in COLUMNS else 99


class References:
    """Clients, services and subscription periods, loaded once per import."""

    def __init__(self, session: Session) -> None:
        self.clients = dict(session.execute(select(Client.code, Client.id)).all())
        self.services = dict(session.execute(select(Service.code, Service.id)).all())
        self.subscriptions: dict[tuple[int, int], list[tuple[date, date]]] = {}
        rows = session.execute(
            select(
                Subscription.client_id,
                Subscription.service_id,
                Subscription.start,
                Subscription.end,
            )
        )
        for client_id, service_id, start, end in rows:
            self.subscriptions.setdefault((client_id, service_id), []).append(
                (start, end or date.max)
            )
        self.locked = frozenset(locked_years(session))

    def subscribed(self, client_id: int, service_id: int, day: date) -> bool:
        for start, end in self.subscriptions.get((client_id, service_id), ()):
            if start <= day <= end:
                return True
        return False


class Memo(dict[K, V]):
    """A function's answers by argument, up to `limit` of them: a file of a million rows
    holds only hundreds of distinct codes, dates and quantities."""

    def __init__(self, work: Callable[[K], V], limit: int = 100_000) -> None:
        super().__init__()
        self.work = work
        self.limit = limit

    def __missing__(self, key: K) -> V:
        answer = self.work(key)
        if len(self) < self.limit:
            self[key] = answer
        return answer


def _local(value: datetime | date) -> tuple[datetime, date]:
    """The UTC instant and the Europe/London date of a usage date or datetime."""
    if isinstance(value, datetime):
        instant = to_utc(value)
        return instant, instant.astimezone(LONDON).date()
    return london_midnight_utc(value), value


def _in_range(convert: Callable[[object], Dated]) -> Callable[[object], Dated]:
    """`convert`, refusing a moment outside the years people may name (a slip such as
    9999 for 2026 would otherwise make a statement in a distant year)."""

    def converted(value: object) -> Dated:
        try:
            result: Dated | None = convert(value)
        except OverflowError:  # too near year 1 or 9999 to move between time zones
            result = None
        if result is None or not FIRST_YEAR <= result[0].year <= LAST_YEAR:
            raise ValueError(
                f"'{cell.text(value)}' is out of range: use a date from "
                f"{FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31"
            )
        return result

    return converted


@_in_range
def _when(value: object) -> When:
    """A usage date: its UTC instant, London date and month, and the instant's timestamp
    as the fingerprint writes it."""
    instant, local = _local(cell.moment(value))
    return instant, local, f"{local.year:04d}-{local.month:02d}", str(instant.timestamp())


def _unlocked(locked: frozenset[str]) -> Callable[[object], When]:
    """`_when`, refusing a date in a financial year locked for good (billing lock-year)."""

    def when(value: object) -> When:
        found = _when(value)
        year = str(Month.parse(found[2]).financial_year)
        if year in locked:
            raise ValueError(
                f"{found[1].isoformat()} is in {year}, which is locked (billing lock-year): "
                "its usage can no longer change; correct its statements with billing adjust"
            )
        return found

    return when


@_in_range
def _instant(value: object) -> tuple[datetime, str]:
    parsed = cell.moment(value)
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    instant = to_utc(parsed)
    return instant, str(instant.timestamp())


def _quantity(value: object) -> Counted:
    quantity = cell.decimal(value)
    if quantity <= 0:
        raise ValueError(f"quantity must be more than 0, not {cell.text(value)}")
    return quantity, f"{quantity.normalize():f}"


def _coded(codes: dict[str, int], kind: str) -> Callable[[object], Coded]:
    def find(value: object) -> Coded:
        code = cell.text(value).upper()
        if code not in codes:
            raise ValueError(f"unknown {kind} '{cell.text(value)}'")
        return code, codes[code]

    return find


class _Column(Memo[object, T | str]):
    """A column's answer for each raw cell value: a tuple when the cell is good, else the
    message saying what is wrong with it (a str). A blank cell's answer is `default`, or
    `required` when the column has no default. 1 and 1.0 are one key, which every parse
    here reads alike; True is not a number, so booleans are answered each time, never
    looked up (True == 1)."""

    def __init__(
        self, parse: Callable[[object], T], default: T | None = None, required: str = ""
    ) -> None:
        self.parse, self.default, self.required = parse, default, required
        super().__init__(self.answer)

    def answer(self, value: object) -> T | str:
        if cell.blank(value):
            return self.default or self.required
        try:
            return self.parse(value)
        except ValueError as error:
            return str(error)


@dataclass(slots=True)
class Event:
    """A valid usage row, as the ledger stores it."""

    event_id: str | None
    client_id: int
    service_id: int
    occurred_at: datetime
    local_date: date
    month: str
    quantity: Decimal
    reference: str | None
    started_at: datetime | None
    completed_at: datetime | None
    paused_at: datetime | None
    resumed_at: datetime | None
    fingerprint: str


def _free_text(value: object, column: str, limit: int, found: list[tuple[str, str]]) -> str | None:
    """A text column stored as given (stripped; None when blank): at most `limit`
    characters the databases can store."""
    if value is None:
        return None
    text = value.strip() if type(value) is str else cell.text(value)
    if not text:
        return None
    problem = cell.unstorable(column, text, limit)
    if problem:
        found.append((column, problem))
    return text


class UsageValidator:
    """Turns raw rows (a dict of cells) into events, or into problems.

    A tight loop rather than a marshmallow schema: it runs once per row of files with
    millions of rows, and remembers what each distinct cell value meant.
    """

    def __init__(self, refs: References, source: str, require_event_id: bool = False) -> None:
        self.source = source
        self.require_event_id = require_event_id
        self.clients = _Column(_coded(refs.clients, "client"), required="client is required")
        self.services = _Column(_coded(refs.services, "service"), required="service is required")
        self.dates = _Column(
            _unlocked(refs.locked) if refs.locked else _when, required="date is required"
        )
        self.quantities = _Column(_quantity, (ONE, "1"))
        self.moments: _Column[Moment] = _Column(_instant, NO_MOMENT)
        self.subscribed: Memo[tuple[int, int, date], bool] = Memo(lambda key: refs.subscribed(*key))

    def validate(self, number: int, raw: Row, problems: Problems) -> Event | None:
        """Row `number`'s event; or None, its problems added to `problems`."""
        found: list[tuple[str, str]] = []
        if not raw.keys() <= KNOWN:
            for column in sorted(raw.keys() - KNOWN):
                if not cell.blank(raw[column]):
                    found.append(
                        (column, f"unknown field '{column}'; expected {', '.join(COLUMNS)}")
                    )
        get = raw.get
        event_id = _free_text(get("event_id"), "event_id", 100, found)
        if event_id is None and self.require_event_id:
            found.append(("event_id", "event_id is required"))
        # Each column's answer for its cell, looked up in its memo; but a boolean is
        # answered afresh, as it equals 0 or 1 (written out six times: a call a column
        # would cost a tenth of the validation).
        value = get("client")
        client = self.clients.answer(value) if value.__class__ is bool else self.clients[value]
        if type(client) is str:
            found.append(("client", client))
        value = get("service")
        service = self.services.answer(value) if value.__class__ is bool else self.services[value]
        if type(service) is str:
            found.append(("service", service))
        value = get("date")
        when = self.dates.answer(value) if value.__class__ is bool else self.dates[value]
        if type(when) is str:
            found.append(("date", when))
        value = get("quantity")
        quantity = (
            self.quantities.answer(value) if value.__class__ is bool else self.quantities[value]
        )
        if type(quantity) is str:
            found.append(("quantity", quantity))
        value = get("started_at")
        started = self.moments.answer(value) if value.__class__ is bool else self.moments[value]
        if type(started) is str:
            found.append(("started_at", started))
        value = get("completed_at")
        completed = self.moments.answer(value) if value.__class__ is bool else self.moments[value]
        if type(completed) is str:
            found.append(("completed_at", completed))
        if (
            type(started) is tuple
            and type(completed) is tuple
            and started[0]
            and completed[0]
            and completed[0] < started[0]
        ):
            found.append(("completed_at", "completed_at is before started_at"))
        paused = resumed = NO_MOMENT
        value, other = get("paused_at"), get("resumed_at")
        if not (cell.blank(value) and cell.blank(other)):
            paused, resumed = self.pause(value, other, started, completed, found)
        reference = _free_text(get("reference"), "reference", 200, found)
        if (
            type(client) is tuple
            and type(service) is tuple
            and type(when) is tuple
            and not self.subscribed[client[1], service[1], when[1]]
        ):
            message = f"{client[0]} is not subscribed to {service[0]} on {when[1].isoformat()}"
            found.append(("client", message))
        if found:
            problems += [Problem(message, self.source, number, column) for column, message in found]
            return None
        (
            (_, client_id),
            (_, service_id),
            (occurred_at, local_date, month, occurred_ts),
            (quantity_value, quantity_text),
            (started_at, started_ts),
            (completed_at, completed_ts),
        ) = cast(  # a row with no problem has a good answer, a tuple, in every column
            tuple[Coded, Coded, When, Counted, Moment, Moment],
            (client, service, when, quantity, started, completed),
        )
        content = (
            f"{client_id}\x1f{service_id}\x1f{occurred_ts}\x1f{quantity_text}\x1f{reference or ''}"
            f"\x1f{started_ts}\x1f{completed_ts}"
        )
        if paused[0] is not None:  # an event without a pause keeps the fingerprint it had
            content += f"\x1f{paused[1]}\x1f{resumed[1]}"
        fingerprint = hashlib.sha1(content.encode()).hexdigest()
        return Event(
            event_id,
            client_id,
            service_id,
            occurred_at,
            local_date,
            month,
            quantity_value,
            reference,
            started_at,
            completed_at,
            paused[0],
            resumed[0],
            fingerprint,
        )

    def pause(
        self,
        paused_cell: object,
        resumed_cell: object,
        started: Moment | str,
        completed: Moment | str,
        found: list[tuple[str, str]],
    ) -> tuple[Moment, Moment]:
        """A row's pause, paused_at and resumed_at: both or neither, within started_at to
        completed_at, resumed no earlier than paused; problems added to `found`."""
        paused, resumed = self.moments.answer(paused_cell), self.moments.answer(resumed_cell)
        if isinstance(paused, str) or isinstance(resumed, str):
            for column, answer in (("paused_at", paused), ("resumed_at", resumed)):
                if isinstance(answer, str):
                    found.append((column, answer))
            return NO_MOMENT, NO_MOMENT
        (paused_at, _), (resumed_at, _) = paused, resumed
        if paused_at is None or resumed_at is None:
            given, missing = ("resumed_at", "paused_at") if paused_at is None else PAUSE
            found.append((missing, f"{missing} is required when {given} is given"))
            return NO_MOMENT, NO_MOMENT
        if resumed_at < paused_at:
            found.append(("resumed_at", "resumed_at is before paused_at"))
        if not isinstance(started, tuple) or not isinstance(completed, tuple):
            return paused, resumed  # a bad start or completion is problem enough
        if started[0] is None or completed[0] is None:
            found.append(("paused_at", "a pause needs started_at and completed_at"))
        elif paused_at < started[0]:
            found.append(("paused_at", "paused_at is before started_at"))
        elif resumed_at > completed[0]:
            found.append(("resumed_at", "resumed_at is after completed_at"))
        return paused, resumed
