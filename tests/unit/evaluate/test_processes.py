"""Running processes without Nix: the signals that stop a run, and one told to be ignored."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from nix_tag_check.evaluate import processes


def test_a_hangup_the_tool_was_told_to_ignore_stays_ignored(tmp_path: Path) -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as `nohup` starts the tool
    try:
        outputs = processes.run_all([["sh", "-c", "kill -HUP $PPID; echo done"]],
                                    str(tmp_path), 60)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert outputs == [(0, "done\n", "")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stopping_signal_unwinds_as_ctrl_c_does(tmp_path: Path, signum: int) -> None:
    with pytest.raises(processes.Interrupted) as caught:
        processes.run_all([["sh", "-c", f"kill -{signum} $PPID; exec sleep 60"]],
                          str(tmp_path), 60)
    assert caught.value.signum == signum


def test_a_process_left_holding_the_output_is_stopped_and_the_run_ends_with_nix(
    tmp_path: Path
) -> None:
    script = f'echo "${processes.TOKEN_VARIABLE}"; sleep 60 & exit 3'  # sleep holds stdout
    [(code, token, _)] = processes.run_all([["sh", "-c", script]], str(tmp_path), 60)
    assert code == 3 and len(token.strip()) == 32
    assert processes._token_holders(f"{processes.TOKEN_VARIABLE}={token.strip()}".encode()) == []


def test_stopping_what_one_process_left_behind_leaves_the_others_running(tmp_path: Path) -> None:
    leaves = "sleep 60 & exit 0"
    works = "sleep 1; echo finished"  # still running when the first one's leftover is stopped
    outputs = processes.run_all([["sh", "-c", leaves], ["sh", "-c", works]], str(tmp_path), 60)
    assert outputs == [(0, "", ""), (0, "finished\n", "")]
