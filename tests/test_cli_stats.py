"""`helpdesk stats`: text, JSON and CSV output; bad arguments exit 2 with one line."""
import json

import pytest

from tests.stats_dataset import Dataset

PERIOD = ["--from", "2026-01-01", "--to", "2026-04-30"]


@pytest.fixture
def data(app, monkeypatch):
    return Dataset(monkeypatch)


def test_text_output(data, cli_runner):
    result = cli_runner.invoke(args=["stats", *PERIOD])
    assert result.exit_code == 0, result.output
    assert "2026-01-01 .. 2026-04-30 (Europe/Paris)" in result.output
    assert "Tickets ouverts: 5" in result.output and "Temps moyen de résolution, MTTR (h): 156.0" in result.output


def test_json_output(data, cli_runner):
    result = cli_runner.invoke(args=["stats", *PERIOD, "--organisation", str(data.o2.id), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["period"] == {"from": "2026-01-01", "to": "2026-04-30", "timezone": "Europe/Paris",
                                 "organisation": data.o2.id}
    assert payload["tables"]["by_category"]["rows"] == [["Réseau", 2, 100.0]]
    assert [r[5] for r in payload["tables"]["activity"]["rows"]] == [0, 0, 0, 1]


def test_csv_of_one_table(data, cli_runner):
    result = cli_runner.invoke(args=["stats", *PERIOD, "--csv", "activity"])
    assert result.exit_code == 0
    assert result.output.splitlines()[2] == "2026-02,3,1,1,1,2"


@pytest.mark.parametrize("args, message", [
    (["--from", "2026-02-30"], "--from: expected a date"),
    (["--from", "2026-05-01", "--to", "2026-01-01"], "before it starts"),
    (["--organisation", "4242"], "no organisation with id 4242"),
    (["--csv", "nope"], "no table 'nope'"),
])
def test_bad_arguments_exit_2(app, cli_runner, args, message):
    result = cli_runner.invoke(args=["stats", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output
