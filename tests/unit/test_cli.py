"""The command line's own behaviour around a run: Ctrl-C while a flow's API is being set up."""

from __future__ import annotations

import contextlib
import signal

import pytest

from aepipe.cli import _interrupts_kept


def test_ctrl_c_that_a_library_swallowed_still_ends_the_setup() -> None:
    swallowing = contextlib.suppress(BaseException)  # what some libraries do
    with pytest.raises(KeyboardInterrupt), _interrupts_kept(), swallowing:
        signal.raise_signal(signal.SIGINT)


def test_ctrl_c_that_a_library_wrapped_ends_the_setup_as_an_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt) as raised, _interrupts_kept():
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt as interrupt:  # pydantic's serialiser does this
            raise ValueError("Error calling function: KeyboardInterrupt") from interrupt
    assert isinstance(raised.value.__cause__, ValueError)


def test_other_errors_and_the_handler_are_left_as_they_were() -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(ValueError), _interrupts_kept():
        raise ValueError("not an interrupt")
    assert signal.getsignal(signal.SIGINT) is before
