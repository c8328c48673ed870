"""Who sees what of a quarter's performance: the one rule that the performance page, the
publication workbook and the API all apply.

Centre staff see everything. A client council sees its own results and the whole
centre's for any quarter, and other councils' results and charges only once the quarter
is final, so that no council reads another's provisional (or future) figures. Before
then a council sees only its own charges: the whole centre's total, less its own, would
give away its partner's where a centre has two clients.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Audience:
    """The reader of a publication: centre staff, or one client council (its code, or None
    for a client user bound to no council, who sees only the whole centre's results)."""

    staff: bool
    client: str | None = None

    def sees_result(self, client: str | None, final: bool) -> bool:
        """Whether this reader may see a KPI result for `client` (None: the whole centre)."""
        return self.staff or final or client is None or client == self.client

    def sees_charges(self, client: str | None, final: bool) -> bool:
        """Whether this reader may see charges for `client` (None: the whole centre's total)."""
        return self.staff or final or (client is not None and client == self.client)


STAFF = Audience(staff=True)


def council(code: str | None) -> Audience:
    """A client council's view."""
    return Audience(staff=False, client=code)
