"""The product's vocabulary: every coded value it stores, with the words people read for it.

One enum per list of codes (roles, statement line kinds, statement, query, import and
scheduled-run statuses, charging rules, subscription statuses, VAT treatments and codes, what a column of a
posting file holds, KPI statuses). Each
member is its stored text (a `StrEnum`, so `LineKind.CHARGE == "charge"`), carries its `label` and, where it is
shown as a tag, the one `colour` it has everywhere: pages, charts and workbooks map that
colour name to their own palette, so amber is the same colour on every page.
"""

from __future__ import annotations

from enum import StrEnum


class Term(StrEnum):
    """A stored code with its label (and tag colour, grey unless given)."""

    label: str
    colour: str

    def __new__(cls, code: str, *words: str) -> Term:
        # each member is declared as (code, label) or (code, label, colour); `words` is
        # variadic so that `LineKind("charge")`, the look-up by code, also type-checks
        member = str.__new__(cls, code)
        member._value_ = code
        member.label = words[0]
        member.colour = words[1] if len(words) > 1 else "grey"
        return member


class Role(Term):
    ADMIN = "admin", "Administrator"
    MANAGER = "manager", "Shared-service manager"
    FINANCE = "finance", "Finance officer"
    CLIENT = "client", "Client council"
    AUDITOR = "auditor", "Auditor"


class UserStatus(Term):
    """Where a user stands (worked out from the user, not stored)."""

    ACTIVE = "active", "Active", "green"
    INVITED = "invited", "Invited", "blue"  # has never signed in, nor chosen a password
    ONE_TIME = "one_time", "One-time password", "yellow"  # signed in, password not yet changed
    DISABLED = "disabled", "Disabled", "grey"


class LineKind(Term):
    CHARGE = "charge", "Charge for the month"
    PRIOR_PERIOD = "prior_period", "Prior-period adjustment"
    ADJUSTMENT = "adjustment", "Manual adjustment"
    SERVICE_CREDIT = "service_credit", "Service credit"
    TRUE_UP = "true_up", "Year-end true-up"
    CARRIED_FORWARD = "carried_forward", "Carried forward (de minimis)"
    OUTTURN = "outturn", "Year-end outturn (actual cost)"


class Funding(Term):
    """How a service is funded: on its prices alone, or on its cost, reconciled at outturn."""

    PRICE = "price", "Price: charged on its tariffs"
    COST = "cost", "Cost: reconciled to the actual cost at the year's outturn"


class CostKind(Term):
    ACTUAL = "actual", "Actual"
    BUDGET = "budget", "Budget"


class StatementStatus(Term):
    DRAFT = "draft", "Draft", "yellow"
    ISSUED = "issued", "Issued", "green"


class QueryStatus(Term):
    OPEN = "open", "Open", "yellow"
    ACCEPTED = "accepted", "Accepted", "green"
    REJECTED = "rejected", "Rejected", "grey"


class ImportStatus(Term):
    IMPORTED = "imported", "Imported", "green"
    REVERTED = "reverted", "Reverted", "grey"


class RunStatus(Term):
    RUNNING = "running", "Running", "blue"
    DONE = "done", "Done", "green"
    FAILED = "failed", "Failed", "red"


class Rule(Term):
    UNIT_RATE = "unit_rate", "Unit rate"
    GRADUATED = "graduated", "Graduated price"
    BANDED = "banded", "Banded price"
    FIXED_FEE = "fixed_fee", "Fixed fee"
    APPORTION = "apportion", "Apportioned cost pool"


class VatTreatment(Term):
    """How a subscription's supply is treated for VAT (HMRC VAT Government and Public
    Bodies manual: statutory services between public bodies are not business supplies)."""

    SERVICE = "service", "The service's VAT rate"
    OUTSIDE_SCOPE = "outside_scope", "Outside the scope of VAT"
    EXEMPT = "exempt", "Exempt from VAT"
    ZERO = "zero", "Zero-rated"


class SubscriptionStatus(Term):
    """Where a subscription stands on a day (worked out, not stored): a leaver that gave
    notice is in notice until its notice or its subscription runs out."""

    ACTIVE = "active", "Active", "green"
    NOTICE = "notice", "Leaving: in notice", "orange"
    FUTURE = "future", "Starts later", "blue"
    ENDED = "ended", "Ended", "grey"


class VatCode(Term):
    """The VAT code of a statement line, as ledgers and VAT returns know it."""

    STANDARD = "S", "Standard or reduced rate"
    OUTSIDE_SCOPE = "O", "Outside the scope of VAT"
    EXEMPT = "E", "Exempt"
    ZERO = "Z", "Zero-rated"


class PostingSource(Term):
    """What a column of a client's own posting-file template holds (the setup workbook's
    PostingColumns): a field of its journal's rows, or, written `text:` and a text, that
    fixed text on every row (`FIXED_TEXT`)."""

    STATEMENT = "statement", "Statement number"
    CLIENT = "client", "Client code"
    MONTH = "month", "Month billed, YYYY-MM"
    DATE = "date", "Issue date, YYYY-MM-DD"
    DATE_DMY = "date_dmy", "Issue date, DD/MM/YYYY"
    DATE_YMD = "date_ymd", "Issue date, YYYY/MM/DD"
    COST_CENTRE = "cost_centre", "Cost centre (the client's own)"
    SUBJECTIVE = "subjective", "Subjective or account (the client's own)"
    DEBIT = "debit", "Debit, signed: a credit line is a negative debit"
    CREDIT = "credit", "Credit, signed: a credit line is a negative credit"
    AMOUNT = "amount", "Amount, signed: debits positive, credits negative"
    POSITIVE_DEBIT = "positive_debit", "Debit, never negative: a negative credit moves here"
    POSITIVE_CREDIT = "positive_credit", "Credit, never negative: a negative debit moves here"
    VAT_CODE = "vat_code", "VAT code: S, O, E or Z"
    DESCRIPTION = "description", "Description"
    PO_NUMBER = "po_number", "Purchase order number"


FIXED_TEXT = "text:"  # a PostingColumns source that is this and a text: that text on every row


# KPI methods measured from figures councils submit (`kpi import`), not from usage:
# `submitted` adds a quarter's months up; `as_at` takes its latest month's figures to date
FIGURE_METHODS = ("submitted", "as_at")


class KpiStatus(Term):
    """Best first, the order results are counted and charted in."""

    GREEN = "green", "Green: on target", "green"
    AMBER = "amber", "Amber: near target", "orange"
    RED = "red", "Red: off target", "red"
    NO_DATA = "no_data", "No data", "grey"

    @property
    def word(self) -> str:
        """The status alone, `Amber`, where the target is said beside it."""
        return self.label.partition(":")[0]
