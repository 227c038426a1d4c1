"""Bad input to the commands ends in a diagnostic and exit code 1, never a traceback."""
import pytest

from snnlang.cli import main


@pytest.mark.parametrize("command", ["run", "build", "train"])
def test_a_missing_spec_is_a_diagnostic(command, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    args = [command, str(tmp_path / "missing.snn"), "-o", str(tmp_path / "out")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "missing.snn:1:1: error: cannot read" in err and "Traceback" not in err


def test_unreadable_weights_are_an_error_message(tmp_path, capsys, monkeypatch):
    from helpers import SPECS

    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    (tmp_path / "junk.npz").write_text("junk")
    for weights in (tmp_path / "missing.npz", tmp_path / "junk.npz"):
        code = main(["run", str(SPECS / "brief_lif.snn"), "-o", str(tmp_path / "out"), "--weights", str(weights)])
        err = capsys.readouterr().err
        assert code == 2 and "cannot read it as an .npz" in err and "Traceback" not in err
