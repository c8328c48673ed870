"""The API's blueprints: a bearer token checked on every operation, and refusals.

Every refusal is `{"errors": [...]}` with a 4xx status, shaped by ErrorsSchema, and each
operation documents the refusals it can give: its own, and its token's (401, 403, 429).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Response, g, jsonify, request
from flask_smorest import Blueprint

from opsplatform.accounts import user_for_token
from opsplatform.entrypoints.api.schemas import ErrorsSchema
from opsplatform.entrypoints.extensions import database, throttle
from opsplatform.errors import Problem
from opsplatform.throttle import TOKEN

View = TypeVar("View", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")
Refusal = tuple[Response, int] | tuple[Response, int, dict[str, str]]

RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until a token from this address is looked at again",
        "required": True,
        "schema": {"type": "integer"},
    }
}


def errors(status: int, *problems: Problem | str) -> tuple[Response, int]:
    """A refusal listing `problems`; a text is a problem of the whole request (a message only)."""
    listed = [p if isinstance(p, Problem) else {"message": p} for p in problems]
    return jsonify(ErrorsSchema().dump({"errors": listed})), status


class ApiBlueprint(Blueprint):
    """A blueprint of the API: its operations take a bearer token and document their refusals."""

    def refuses(self, answers: dict[int, str]) -> Callable[[View], View]:
        """Document the refusals a view gives itself: status, and when."""

        def document(view: View) -> View:
            for status, when in answers.items():
                view = self.alt_response(
                    status,
                    schema=ErrorsSchema,
                    description=when,
                    headers=RETRY_AFTER if status == 429 else None,
                )(view)
            return view

        return document

    def token_required(self, *roles: str) -> Callable[[Callable[P, R]], Callable[P, R | Refusal]]:
        """Authenticate the bearer token; refuse (403) a user whose role is not in `roles`.
        Bad tokens are throttled per address (opsplatform.throttle.TOKEN): while an address
        is locked out, no token from it is looked at (429, with Retry-After)."""
        answers = {
            401: "no API token, or one that is not valid (or has been revoked)",
            429: "too many bad API tokens from this address: none is looked at for a while",
        }
        if roles:
            answers[403] = f"the token's user may not do this: only {' and '.join(roles)} may"

        def decorate(view: Callable[P, R]) -> Callable[P, R | Refusal]:
            @wraps(view)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Refusal:
                refusal = _refusal(roles)
                return refusal if refusal is not None else view(*args, **kwargs)

            return self.refuses(answers)(wrapper)

        return decorate


def _refusal(roles: tuple[str, ...]) -> Refusal | None:
    """Why the request's token is refused, or None (and g.api_user is its user)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return errors(401, "send an API token: Authorization: Bearer TOKEN")
    address = request.remote_addr or ""
    with database().transaction() as session:
        wait = throttle().locked(session, TOKEN, address)
        user = None if wait else user_for_token(session, token.strip())
        if user is not None:
            user.client  # load it while the session is open  # noqa: B018
        elif not wait:
            throttle().failed(session, TOKEN, address)
    if wait:
        message = f"too many bad API tokens from this address: try again in {wait} s"
        return *errors(429, message), {"Retry-After": str(wait)}
    if user is None:
        return errors(401, "the API token is not valid (or has been revoked)")
    if roles and user.role not in roles:
        return errors(403, f"a {user.role} user may not do this")
    g.api_user = user
    return None
