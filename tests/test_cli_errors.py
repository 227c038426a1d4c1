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
