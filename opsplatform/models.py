"""The shared entities: reference data from the setup workbook and the usage ledger."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsplatform.db import TRIGGER_CHECKED, Base, Money, Quantity, UTCDateTime, utcnow
from opsplatform.periods import months_after


class Setting(Base):
    """One centre-wide setting (`centre_name`, `statement_prefix`, `de_minimis`...)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SettingStep(Base):
    """A charging setting's value from month `applies_from` on (CONTRACT section 9).

    A change loaded without `--rerate` applies from the first month not yet issued, so
    issued months keep the value they were rated with; "" is every month before the
    first step. No steps: the setting's one value applies to every month.
    """

    __tablename__ = "setting_steps"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    applies_from: Mapped[str] = mapped_column(String(7), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class YearLock(Base):
    """A financial year closed for good (`billing lock-year`): nothing re-rates it."""

    __tablename__ = "year_locks"
    financial_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_by: Mapped[str] = mapped_column(String(254))


class Client(Base):
    """A client council (or authority) that the centre serves and recharges."""

    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    nation: Mapped[str] = mapped_column(String(20), default="england")
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(Text)  # for VAT invoices
    vat_number: Mapped[str | None] = mapped_column(String(20))
    # the client's own ledger codes for its expense journal (`billing post --format client`)
    vat_recoverable_code: Mapped[str | None] = mapped_column(String(40))
    creditors_code: Mapped[str | None] = mapped_column(String(40))


class PostingColumn(Base):
    """One column of a client's own posting-file template (`billing post --format mapped`):
    its column number, heading and what it holds, a `PostingSource` or `text:` and a
    fixed text."""

    __tablename__ = "posting_columns"
    __table_args__ = (UniqueConstraint("client_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    position: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(200))


# A client's posting-file template as its PostingColumn rows give it: column number ->
# (heading, source).
PostingTemplate = dict[int, tuple[str | None, str]]


class Service(Base):
    """A service on the centre's menu, counted in `unit`s."""

    __tablename__ = "services"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40))
    vat_rate: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    cost_centre: Mapped[str | None] = mapped_column(String(40))
    subjective: Mapped[str | None] = mapped_column(String(40))  # the centre's income code
    # `price`: charged on its tariffs alone; `cost`: charged on account, then reconciled to
    # the actual cost at the year's outturn (billing.outturn)
    funding: Mapped[str] = mapped_column(String(5), default="price", server_default="price")
    # what a unit cost before the service was shared, and when, to show the savings of sharing
    baseline_unit_cost: Mapped[Decimal | None] = mapped_column(Quantity)
    baseline_period: Mapped[str | None] = mapped_column(String(40))


class Subscription(Base):
    """A client's opt-in to a service from `start` to `end` (inclusive; open when None)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("client_id", "service_id", "start"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date)
    tier: Mapped[str] = mapped_column(String(40), default="standard")
    po_number: Mapped[str | None] = mapped_column(String(60))
    # the VAT treatment of this supply: the service's rate, or outside the scope, exempt
    # or zero-rated (HMRC VAT Government and Public Bodies manual: statutory services
    # between public bodies are not business supplies)
    vat: Mapped[str] = mapped_column(String(16), default="service", server_default="service")
    client_cost_centre: Mapped[str | None] = mapped_column(String(40))
    client_subjective: Mapped[str | None] = mapped_column(String(40))
    # the agreement behind it: legal basis, notice period and review date
    basis: Mapped[str | None] = mapped_column(String(40))
    notice_months: Mapped[int | None] = mapped_column(Integer)
    notice_given: Mapped[date | None] = mapped_column(Date)  # when notice to leave was given
    review_date: Mapped[date | None] = mapped_column(Date)
    client: Mapped[Client] = relationship()
    service: Mapped[Service] = relationship()

    def overlaps(self, first: date, last: date) -> bool:
        return self.start <= last and (self.end is None or self.end >= first)

    def notice_ends(self) -> date | None:
        """The day a leaver's notice runs out, if it gave notice (exit terms: a leaver of a
        pooled service pays its share until then, whenever its use ends)."""
        if self.end is None or self.notice_given is None or not self.notice_months:
            return None
        return months_after(self.notice_given, self.notice_months)


class Driver(Base):
    """A client's value of an apportionment driver (population, headcount...) for a year."""

    __tablename__ = "drivers"
    __table_args__ = (UniqueConstraint("client_id", "financial_year", "driver"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    financial_year: Mapped[str] = mapped_column(String(7))
    driver: Mapped[str] = mapped_column(String(40))
    value: Mapped[Decimal] = mapped_column(Quantity)
    client: Mapped[Client] = relationship()


class Tariff(Base):
    """How a service is charged in a financial year, for everyone, a tier or one client.

    `scope` is `all`, `tier:NAME` or `client:CODE`, so that the natural key is unique
    on every database. `version` counts changes, and each charge line records it.
    """

    __tablename__ = "tariffs"
    __table_args__ = (UniqueConstraint("service_id", "financial_year", "scope"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    financial_year: Mapped[str] = mapped_column(String(7))
    scope: Mapped[str] = mapped_column(String(60))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    tier: Mapped[str | None] = mapped_column(String(40))
    rule: Mapped[str] = mapped_column(String(20))
    rate: Mapped[Decimal | None] = mapped_column(Quantity)
    bands: Mapped[str | None] = mapped_column(Text)
    annual_amount: Mapped[Decimal | None] = mapped_column(Money)
    driver: Mapped[str | None] = mapped_column(String(40))
    minimum: Mapped[Decimal | None] = mapped_column(Money)
    annual_cap: Mapped[Decimal | None] = mapped_column(Money)
    billing: Mapped[str] = mapped_column(String(10), default="actual")
    true_up_tolerance: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    version: Mapped[int] = mapped_column(Integer, default=1)
    service: Mapped[Service] = relationship()
    client: Mapped[Client | None] = relationship()


class Estimate(Base):
    """A client's estimated annual quantity of a service, for estimate billing."""

    __tablename__ = "estimates"
    __table_args__ = (UniqueConstraint("client_id", "service_id", "financial_year"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    financial_year: Mapped[str] = mapped_column(String(7))
    quantity: Mapped[Decimal] = mapped_column(Quantity)


class Kpi(Base):
    """A key performance indicator the centre measures and publishes."""

    __tablename__ = "kpis"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    unit: Mapped[str] = mapped_column(String(10))
    direction: Mapped[str] = mapped_column(String(6))
    target: Mapped[Decimal] = mapped_column(Quantity)
    amber: Mapped[Decimal] = mapped_column(Quantity)
    method: Mapped[str] = mapped_column(String(20))
    limit: Mapped[Decimal | None] = mapped_column(Quantity)
    calendar: Mapped[str] = mapped_column(String(20), default="working_days")
    service: Mapped[Service | None] = relationship()


class Sla(Base):
    """A client's own target for a KPI, and the service credit it earns when missed."""

    __tablename__ = "slas"
    __table_args__ = (UniqueConstraint("client_id", "kpi_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    kpi_id: Mapped[int] = mapped_column(ForeignKey("kpis.id"))
    target: Mapped[Decimal | None] = mapped_column(Quantity)
    amber: Mapped[Decimal | None] = mapped_column(Quantity)
    service_credit_percent: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))


class ImportBatch(Base):
    """One imported file (or API call): what it held, what was stored, whether reverted.

    `live_sha256` holds the content hash while the batch stands, so that the same
    content cannot be imported twice; a reverted batch gives it up.
    """

    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="usage")
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    live_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="imported")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def ledger_reference(column: str, target: str) -> ForeignKeyConstraint:
    """A foreign key of the usage ledger. On SQLite it is an ordinary constraint; on
    PostgreSQL migration 0004 checks the ledger's references once per statement instead
    (triggers over the statement's new rows, locking the rows referred to as a foreign key
    does), since checking them row by row costs more than a bulk COPY itself."""
    return ForeignKeyConstraint([column], [target], info={TRIGGER_CHECKED: True}).ddl_if(
        dialect="sqlite"
    )


class UsageEvent(Base):
    """One line of the usage ledger: a quantity of a service used by a client on a date.

    `month` is the Europe/London month of `occurred_at`, kept for set-based grouping;
    `fingerprint` is a hash of the content, to tell a repeat from a conflict.
    """

    __tablename__ = "usage_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(40))
    client_id: Mapped[int] = mapped_column(Integer)
    service_id: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_date: Mapped[date] = mapped_column(Date)
    month: Mapped[str] = mapped_column(String(7))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    reference: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # one pause (on hold, awaiting the customer) within started_at..completed_at, both or
    # neither; its time on the KPI's clock is taken off the event's (CONTRACT section 10)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        *(
            ledger_reference(column, target)
            for column, target in (
                ("batch_id", "import_batches.id"),
                ("client_id", "clients.id"),
                ("service_id", "services.id"),
            )
        ),
        Index("ix_usage_month_service_client", "month", "service_id", "client_id"),
        Index("ix_usage_batch", "batch_id"),
        # the latest timed event of a service, found without reading the ledger; only
        # timed events are in it, so untimed usage costs nothing to import
        Index(
            "ix_usage_timed",
            "service_id",
            "completed_at",
            sqlite_where=started_at.is_not(None),
            postgresql_where=started_at.is_not(None),
        ),
    )


class KpiFigure(Base):
    """A client's submitted numerator and denominator for a KPI in a month."""

    __tablename__ = "kpi_figures"
    __table_args__ = (UniqueConstraint("kpi_id", "client_id", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kpi_id: Mapped[int] = mapped_column(ForeignKey("kpis.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    month: Mapped[str] = mapped_column(String(7))
    numerator: Mapped[Decimal] = mapped_column(Quantity)
    denominator: Mapped[Decimal] = mapped_column(Quantity)


class CalendarOverride(Base):
    """A local change to a nation's bank holidays: a one-off holiday added, or one removed."""

    __tablename__ = "calendar_overrides"
    __table_args__ = (UniqueConstraint("nation", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    nation: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    action: Mapped[str] = mapped_column(String(6))
    name: Mapped[str | None] = mapped_column(String(200))


class ServiceHours(Base):
    """A service's opening hours on one weekday (`mon` to `sun`), in Europe/London local
    time written HH:MM, for KPIs on the service_hours calendar; a weekday with no row is
    closed."""

    __tablename__ = "service_hours"
    __table_args__ = (UniqueConstraint("service_id", "weekday"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    weekday: Mapped[str] = mapped_column(String(3))
    open: Mapped[str] = mapped_column(String(5))
    close: Mapped[str] = mapped_column(String(5))


class CostCentreShare(Base):
    """Where the cost booked to one of the centre's cost centres goes: to `service`, in
    proportion to `share` among the cost centre's rows (one row: all of it, a direct cost;
    several: an overhead apportioned by a driver such as floor area or staff time,
    named by `driver`)."""

    __tablename__ = "cost_centre_shares"
    __table_args__ = (UniqueConstraint("cost_centre", "service_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cost_centre: Mapped[str] = mapped_column(String(40), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    name: Mapped[str | None] = mapped_column(String(200))
    driver: Mapped[str | None] = mapped_column(String(40))
    share: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(1))
    service: Mapped[Service] = relationship()


class CostLine(Base):
    """The centre's actual or budgeted cost on a cost centre and subjective for a month,
    from the host council's ledger (`costs import`): a file's lines replace the lines of
    each (kind, month) it holds, so a month extracted again is never counted twice."""

    __tablename__ = "cost_lines"
    __table_args__ = (Index("ix_cost_lines_kind_month", "kind", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(6))  # actual or budget
    month: Mapped[str] = mapped_column(String(7))
    cost_centre: Mapped[str] = mapped_column(String(40))
    subjective: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Money)
    source: Mapped[str] = mapped_column(String(255))  # the file it came from, and its row


class KpiBaseline(Base):
    """A KPI's value before the service was shared, for the centre or one client.

    `scope` is a client code or `centre`, so that the key is unique on every database.
    """

    __tablename__ = "kpi_baselines"
    __table_args__ = (UniqueConstraint("kpi_id", "scope"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kpi_id: Mapped[int] = mapped_column(ForeignKey("kpis.id"))
    scope: Mapped[str] = mapped_column(String(12))
    value: Mapped[Decimal] = mapped_column(Quantity)
    period: Mapped[str | None] = mapped_column(String(40))


PROFILE_ALL = "all"  # a KpiProfile's scope when it is for every client and the whole centre


class KpiProfile(Base):
    """A KPI's profiled target for one month: what a cumulative, year-to-date figure
    should have reached by then (89% collected by December of a 97% year). `scope` is a
    client code, or `all` for every client without its own and the whole centre; `amber`
    None keeps the KPI's (or SLA's) distance between target and amber."""

    __tablename__ = "kpi_profiles"
    __table_args__ = (UniqueConstraint("kpi_id", "scope", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kpi_id: Mapped[int] = mapped_column(ForeignKey("kpis.id"))
    scope: Mapped[str] = mapped_column(String(12))
    month: Mapped[str] = mapped_column(String(7))
    target: Mapped[Decimal] = mapped_column(Quantity)
    amber: Mapped[Decimal | None] = mapped_column(Quantity)


class User(Base):
    """A person who signs in; a `client` user is bound to one client council."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A random token every session cookie of this user carries, set at a sign-in when there
    # is none; None ends every session (sign-out, password reset, role change, disabling).
    # Being random, it also stops a deleted user's cookie signing in whoever gets its id next.
    session_token: Mapped[str | None] = mapped_column(String(64))
    # Set while the password is a one-time password (printed by `users create` or `users
    # reset`): it signs in until then, and the user is asked to change it; None once the
    # user has chosen a password.
    one_time_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client: Mapped[Client | None] = relationship()

    # What flask-login asks of a signed-in user.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        """What the session cookie names: the user and its session token."""
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        """Sign the user out of every browser."""
        self.session_token = None


class PasswordLink(Base):
    """An e-mailed link that sets a user's password once: an invitation or a reset. Only
    the SHA-256 hash of its token is kept; it works until `expires_at`, once."""

    __tablename__ = "password_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))  # invitation or reset
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for the API, stored only as a SHA-256 hash; revoked tokens stay on record."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user: Mapped[User] = relationship()


class FailureCount(Base):
    """Recent failed sign-ins of an account or from an address, or bad API tokens from an
    address (see opsplatform.throttle): shared by every worker and host. `key` is a keyed
    hash, so that the table holds no e-mail address (nor a password typed in its place)."""

    __tablename__ = "failure_counts"
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lockouts: Mapped[int] = mapped_column(Integer)
    forget_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class JobRun(Base):
    """One run of a scheduled job for one period; the unique key makes every run happen once,
    however many scheduler processes share the database."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Who changed what, when: one row per business action, never updated or deleted."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class Notification(Base):
    """An e-mail waiting to be sent, or sent: written in the transaction of what it tells of
    (so nothing is announced that did not happen), then delivered by the scheduler."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
