"""A worker's kept figures: performance machinery for the dashboard, not business logic.

The figures themselves are the domain's (billing.reports, sla.reports), rendered by the
page (web/dashboard.py). Over millions of events they take seconds to compute, so each
worker process keeps the last ones with the data version they were computed at and
when, and shows them while the version is unchanged and they are under FIGURES_SECONDS
old. After that it still shows them, saying so, while one background thread computes
new ones, so that nobody waits seconds for the page after an import at a large centre.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from flask import copy_current_request_context, current_app
from sqlalchemy.orm import Session

from opsplatform.db import utcnow
from opsplatform.entrypoints.extensions import database

FIGURES_SECONDS = 300  # at most this old, even if a change escaped the data version

T = TypeVar("T")
Version = tuple[object, ...]


@dataclass(frozen=True)
class Computed(Generic[T]):
    """Figures, with the data version they were computed at and when."""

    figures: T
    version: Version
    at: datetime


class KeptFigures(Generic[T]):
    """A worker's figures: the last ones computed, and the refresh under way.

    `version` tells, cheaply, what the figures are computed from; `compute` computes them.
    Both are called with a session of the request (or of the background refresh)."""

    def __init__(
        self, version: Callable[[Session], Version], compute: Callable[[Session], T]
    ) -> None:
        self.version = version
        self.compute = compute
        self.latest: Computed[T] | None = None
        self.refreshing: Future[None] | None = None
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-figures")

    def get(self, session: Session) -> tuple[Computed[T], bool]:
        """The kept figures, and whether newer ones are being calculated.

        The first time, they are computed at once; after that, a version changed or
        FIGURES_SECONDS passed starts a refresh in the background, and the kept ones are
        shown until it is done."""
        version = self.version(session)
        found = self.latest
        if found is None:
            found = self.latest = self._computed(session, version)
            return found, False
        if found.version == version and (utcnow() - found.at).total_seconds() < FIGURES_SECONDS:
            return found, False
        if self.refreshing is None or self.refreshing.done():
            self.refreshing = self.worker.submit(copy_current_request_context(self._refresh))
        return found, True

    def close(self) -> None:
        """Wait for a refresh under way, and take no more."""
        self.worker.shutdown(wait=True)

    def _computed(self, session: Session, version: Version) -> Computed[T]:
        return Computed(self.compute(session), version, utcnow())

    def _refresh(self) -> None:
        """In the background, with a copy of the request's context: new figures."""
        try:
            with database().reading() as session:
                self.latest = self._computed(session, self.version(session))
        except Exception:
            current_app.logger.exception("the dashboard's figures could not be recalculated")
            raise
