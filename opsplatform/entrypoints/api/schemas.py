"""The API's shapes, one schema for both uses: what the OpenAPI document describes, and what
shapes the answers (flask-smorest dumps a view's objects through its response schema).

Answers keep the shapes the command line prints with --json (CONTRACT.md sections 5 and 6):
money as texts with two decimals (`"1234.50"`), quantities and rates as decimal texts, dates
and times in ISO 8601, and every key present, null where there is nothing to say. Every field
of an answer is `required`, so that the document says which keys a program may count on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from opsplatform.calendars import NATIONS
from opsplatform.vocabulary import KpiStatus, LineKind, VatCode

MONEY = r"^-?\d+\.\d{2}$"
DECIMAL = r"^-?\d+(\.\d+)?$"
MONTH = r"^\d{4}-\d{2}$"
QUARTER = r"^\d{4}-\d{2}-Q[1-4]$"
PLAIN_NUMBER = re.compile(r"\s*[+-]?[0-9]+(\.[0-9]+)?\s*", re.ASCII)


def text(description: str, nullable: bool = False, **metadata: Any) -> fields.String:
    """A text of an answer; `metadata` adds to the document (a pattern, a format, an enum)."""
    return fields.String(
        required=True, allow_none=nullable, metadata={"description": description, **metadata}
    )


def money(description: str) -> fields.String:
    return text(
        f'{description}: GBP as a text with two decimals, like "1234.50"',
        pattern=MONEY,
        example="1234.50",
    )


def decimal(description: str, nullable: bool = False) -> fields.String:
    return text(
        f'{description}: a decimal text like "12.5"', nullable, pattern=DECIMAL, example="12.5"
    )


def count(description: str, nullable: bool = False) -> fields.Integer:
    return fields.Integer(required=True, allow_none=nullable, metadata={"description": description})


def figure(description: str, nullable: bool = False) -> fields.Raw:
    """A KPI figure, a JSON number as `sla assess --json` gives it (a whole one as an integer),
    dumped as it is, since a Float field would write 95 as 95.0."""
    return fields.Raw(
        required=True,
        allow_none=nullable,
        metadata={"description": description, "type": "number"},
    )


# -- errors --------------------------------------------------------------------------------


class ProblemSchema(Schema):
    message = fields.String(required=True, metadata={"description": "what is wrong, in a sentence"})
    sheet = fields.String(
        allow_none=True,
        metadata={
            "description": "where a posted event's problem was found: `request` for an event "
            "of the wrong shape, else the import's source (`API (EMAIL)`); absent when the "
            "whole request is refused"
        },
    )
    row = fields.Integer(
        allow_none=True,
        metadata={
            "description": "the event's number in the request, from 1 (null for a problem of "
            "no one event); absent as sheet is"
        },
    )
    column = fields.String(
        allow_none=True,
        metadata={"description": "the event's field at fault, or null; absent as sheet is"},
    )


class ErrorsSchema(Schema):
    errors = fields.List(
        fields.Nested(ProblemSchema),
        required=True,
        metadata={
            "description": "every problem: the first 1,000, then one saying how many more "
            "there were"
        },
    )


# -- usage ---------------------------------------------------------------------------------


class Quantity(fields.Field[str | int | float]):
    """A quantity as a JSON number or a plain decimal text (`"12.5"`). A program sends no
    thousands separators, currency signs or other scripts' digits, which a person's
    spreadsheet may hold: such a text is more likely a mistake than a number."""

    def _deserialize(
        self, value: object, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str | int | float:
        if isinstance(value, str) and PLAIN_NUMBER.fullmatch(value):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(
                f"{attr} must be a number, e.g. 12 or 12.5 (digits 0-9 and a decimal point only)"
            )
        return value


def _event_text(name: str, required: bool = False, description: str = "") -> fields.String:
    """A text field of a usage event; what it must hold is checked by the importer."""
    return fields.String(
        required=required,
        allow_none=not required,
        error_messages={
            "required": f"{name} is required",
            "null": f"{name} is required",
            "invalid": f"{name} must be a text",
        },
        metadata={"description": description},
    )


class UsageEventSchema(Schema):
    """The shape of a posted usage event: its types and fields. The values themselves
    (known codes, dates, subscriptions, lengths) are checked as a file's rows are."""

    class Meta:
        unknown = RAISE

    event_id = _event_text(
        "event_id", True, "unique key from the source system, at most 100 characters"
    )
    client = _event_text("client", True, "client council code")
    service = _event_text("service", True, "service code")
    date = _event_text("date", True, "date or ISO 8601 datetime (naive: UK time)")
    quantity = Quantity(allow_none=True, metadata={"description": "number, default 1; more than 0"})
    reference = _event_text("reference", description="at most 200 characters")
    started_at = _event_text("started_at", description="ISO 8601 datetime, for timed KPIs")
    completed_at = _event_text("completed_at", description="ISO 8601 datetime, for timed KPIs")
    paused_at = _event_text(
        "paused_at", description="ISO 8601 datetime: a pause began (on hold), with resumed_at"
    )
    resumed_at = _event_text(
        "resumed_at", description="ISO 8601 datetime: the pause ended, by completed_at"
    )


class UsageReportSchema(Schema):
    """What a post stored, as `usage import --json` reports an import."""

    batch = count("the import batch written; null when every event was stored already", True)
    filename = text("the source the batch records: `API (EMAIL)` of the token's user")
    dry_run = fields.Boolean(
        required=True, metadata={"description": "always false: a post is stored or refused"}
    )
    rows = count("events posted")
    inserted = count("events stored by this post")
    skipped = count("events already stored with the same content, left as they were")
    quantity = decimal("the quantity of the events stored by this post")
    months = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "events stored by this post per month (`YYYY-MM`, UK time)"},
    )
    errors = fields.List(
        fields.Nested(ProblemSchema),
        required=True,
        metadata={"description": "always empty: a post with any problem is refused (422)"},
    )
    error_count = count("always 0, as errors")


# -- statements ----------------------------------------------------------------------------


class LineSchema(Schema):
    service = text("service code; null for a line of no one service (an adjustment)", True)
    kind = text("what the line is (CONTRACT.md section 5)", enum=[k.value for k in LineKind])
    description = text("the line as the statement prints it")
    basis = text("how the amount was reached, in one sentence")
    period = text(
        "the month the line is about, `YYYY-MM` (an earlier one for a prior-period line)",
        pattern=MONTH,
        example="2026-05",
    )
    quantity = decimal("the month's quantity of the service")
    rate = decimal("the unit rate charged, or null where no one rate applies", True)
    amount = money("the line's net amount")
    vat_code = text(
        "S standard or reduced rate charged, O outside the scope, E exempt, Z zero-rated",
        enum=[c.value for c in VatCode],
    )
    vat_rate = decimal("the VAT rate charged, percent (0 unless the code is S)")
    vat = money("the line's VAT, rounded per line")
    corrects = text(
        "what the line corrects (a statement number; a KPI and quarter for a service "
        "credit), or null",
        True,
    )
    cost_centre = text("the centre's cost centre for the income, or null", True)
    subjective = text("the centre's income (subjective) code, or null", True)
    client_cost_centre = text("the client's own cost centre for the charge, or null", True)
    client_subjective = text("the client's own expense (subjective) code, or null", True)
    po_number = text("the client's purchase order, or null", True)


class StatementSummarySchema(Schema):
    number = text("the statement's number, `{prefix}-{YYYYMM}-{CLIENT}`", example="TSS-202605-WYR")
    client = text("client council code")
    client_name = text("client council's name")
    month = text("the month billed, `YYYY-MM`", pattern=MONTH, example="2026-05")
    status = text(
        "a draft changes at each month close; an issued one never", enum=["draft", "issued"]
    )
    net = money("the lines' net amounts")
    vat = money("the lines' VAT")
    total = money("net plus VAT")
    issued_at = text(
        "when it was issued, ISO 8601 in UTC; null for a draft", True, format="date-time"
    )
    due_date = text("payment due date, ISO 8601; null for a draft", True, format="date")
    issued_on = text(
        "the issue date (the tax point), UK time, ISO 8601; null for a draft", True, format="date"
    )
    due_on = text("payment due date, ISO 8601; null for a draft", True, format="date")


class VatBandSchema(Schema):
    code = text("the VAT code of the lines", enum=[c.value for c in VatCode])
    rate = decimal("the VAT rate, percent")
    net = money("the lines' net amounts")
    vat = money("the lines' VAT")


class PartySchema(Schema):
    name = text("the party's name")
    address = text("its postal address, or null where the setup gives none", True)
    vat_number = text("its VAT registration number, or null", True)


class VatInvoiceSchema(Schema):
    supplier = fields.Nested(PartySchema, required=True, metadata={"description": "the centre"})
    customer = fields.Nested(PartySchema, required=True, metadata={"description": "the client"})
    tax_point = text("the date of supply: the issue date; null for a draft", True, format="date")


class StatementSchema(StatementSummarySchema):
    lines = fields.List(
        fields.Nested(LineSchema),
        required=True,
        metadata={"description": "the statement's lines, in the statement's order"},
    )
    vat_by_rate = fields.List(
        fields.Nested(VatBandSchema),
        required=True,
        metadata={"description": "net and VAT by VAT code and rate"},
    )
    vat_invoice = fields.Nested(
        VatInvoiceSchema,
        required=True,
        allow_none=True,
        metadata={
            "description": "what a VAT invoice must show, where any line charges VAT; else null"
        },
    )


# -- reference data ------------------------------------------------------------------------


class ClientSchema(Schema):
    code = text("client council code")
    name = text("client council's name")
    nation = text("whose bank holidays its working days skip", enum=list(NATIONS))


class ServiceSchema(Schema):
    code = text("service code")
    name = text("service's name")
    unit = text("what the service counts, e.g. payslip")
    vat_rate = fields.Decimal(
        as_string=True,
        required=True,
        metadata={
            "description": 'VAT rate in percent, as a decimal text like "20.000000"',
            "type": "string",
            "pattern": DECIMAL,
            "example": "20.000000",
        },
    )


class KpiResultSchema(Schema):
    """A KPI's result for a quarter, as `sla assess --json` gives it (CONTRACT.md section 6)."""

    kpi = text("KPI code")
    kpi_name = text("KPI's name")
    client = text("client council code; null for the whole centre", True)
    quarter = text("the quarter, `YYYY-YY-Qn`", pattern=QUARTER, example="2026-27-Q1")
    value = figure("the quarter's value, to 2 decimals; null with no data", True)
    target = figure("the target (the client's own, where its SLA sets one)")
    amber = figure("the amber threshold (the client's own, where its SLA sets one)")
    status = text("against target and amber", enum=[s.value for s in KpiStatus])
    numerator = figure("the value's numerator, to 4 decimals")
    denominator = figure("the value's denominator, to 4 decimals")
    unit = text("the value's unit", enum=["percent", "days", "seconds", "count"])
    direction = text("which way is better", enum=["higher", "lower"])
    events = count("usage events measured; for submitted figures, the figures' rows")
    final = fields.Boolean(
        required=True, metadata={"description": "whether the quarter's results are frozen"}
    )
    previous_quarter = figure("the previous quarter's value, or null", True)
    same_quarter_last_year = figure("the same quarter's value a year before, or null", True)


def query_parameter(
    name: str, pattern: str, example: str, required: bool = False
) -> dict[str, Any]:
    """A query parameter, for the OpenAPI document only: the view parses it itself."""
    schema = {"type": "string", "pattern": pattern, "example": example}
    return {"in": "query", "name": name, "required": required, "schema": schema}
