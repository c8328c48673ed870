"""`opsplatform queries`: statement queries raised by client councils, and their answers."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from billing.disputes import answer_query, list_queries, query_document, raise_query
from importers.tables import money
from opsplatform.entrypoints.cli.common import emit, json_option, raised_by, refusals
from opsplatform.entrypoints.extensions import database
from opsplatform.errors import Refused


@click.group("queries", cls=AppGroup)
def queries_commands() -> None:
    """Statement queries raised by client councils, and finance's answers."""


@queries_commands.command("raise")
@click.argument("number")
@click.option("--line", type=int, help="The line queried (counting from 1).")
@click.option("--reason", required=True)
@json_option
@refusals
def queries_raise(number: str, line: int | None, reason: str, as_json: bool) -> None:
    """Raise a query on statement NUMBER."""
    with database().transaction() as session:
        document = query_document(raise_query(session, number, line, reason, raised_by()))
    if as_json:
        emit(document)
        return
    click.echo(f"query {document['id']} raised on {document['statement']}")


@queries_commands.command("answer")
@click.argument("query_id", type=int)
@click.option("--accept/--reject", required=True, help="Accept or reject the query.")
@click.option("--explanation", required=True, help="What the client is told.")
@click.option("--amount", help="With --accept: an adjustment (negative = credit).")
@json_option
@refusals
def queries_answer(
    query_id: int, accept: bool, explanation: str, amount: str | None, as_json: bool
) -> None:
    """Answer query QUERY_ID."""
    value = None
    if amount is not None:
        try:
            value = money(amount)
        except ValueError as error:
            raise Refused(f"--amount: {error}") from None
    with database().transaction() as session:
        query = answer_query(session, query_id, accept, explanation, raised_by(), value)
        document = query_document(query)
    if as_json:
        emit(document)
        return
    click.echo(f"query {query_id} {document['status']}")


@queries_commands.command("list")
@click.option("--status", type=click.Choice(["open", "accepted", "rejected"]))
@click.option("--client")
@json_option
@refusals
def queries_list(status: str | None, client: str | None, as_json: bool) -> None:
    """Statement queries, oldest first."""
    with database().transaction() as session:
        documents = [query_document(q) for q in list_queries(session, status, client)]
    if as_json:
        emit(documents)
        return
    for d in documents:
        click.echo(f"{d['id']:>5} {d['statement']:<24} {d['status']:<9} {d['reason']}")
    click.echo(f"{len(documents)} quer{'y' if len(documents) == 1 else 'ies'}")
