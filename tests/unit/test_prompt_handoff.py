"""The importer lowers Python's switch interval only while a COPY is under way."""

import sys

import pytest

from importers.ledger import HANDOFF_SECONDS, prompt_handoff


def test_the_interval_is_lowered_while_any_writer_copies_and_put_back_after_the_last():
    before = sys.getswitchinterval()
    assert before != HANDOFF_SECONDS
    first, second = prompt_handoff(), prompt_handoff()
    with first:
        assert sys.getswitchinterval() == HANDOFF_SECONDS
        second.__enter__()
    assert sys.getswitchinterval() == HANDOFF_SECONDS, "the second import still copies"
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


def test_the_interval_is_put_back_when_the_import_fails():
    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError), prompt_handoff():
        raise RuntimeError("the COPY failed")
    assert sys.getswitchinterval() == before
