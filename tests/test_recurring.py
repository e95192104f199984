"""helpdesk.recurring on the fixed history of tests/stats_dataset.py, windows worked out by hand."""
from datetime import timedelta

import pytest

from helpdesk.recurring import recurring_failures
from tests.stats_dataset import Dataset, opened_at, utc


class TestRecurringFailures:
    @pytest.fixture
    def asset_tickets(self, app, monkeypatch):
        data = Dataset(monkeypatch)
        # Asset X holds T1 (10 Jan 09:00), T2 (31 Jan 23:30) and T4 (15 Feb 08:00).
        return data

    def test_flagged_on_the_threshold_with_its_tickets(self, asset_tickets):
        d = asset_tickets
        # The window [10 Jan 08:00:01, 15 Feb 08:00:01) holds T1, T2 and T4.
        until = utc(2026, 2, 15, 8, 0, 1)
        flags = recurring_failures(until, days=36, threshold=3)
        asset = [f for f in flags if f.kind == "asset"]
        assert len(asset) == 1 and asset[0].id == d.x.id and asset[0].name == "2024-09-02"
        assert [t[0] for t in asset[0].tickets] == [d.t1.id, d.t2.id, d.t4.id]
        # Category "Matériel" has the same three tickets in that window (T6 is older).
        assert {(f.kind, f.id, f.count) for f in flags} == {("asset", d.x.id, 3), ("category", d.cat_a.id, 3)}

    def test_window_start_is_inclusive(self, asset_tickets):
        # 36 days before 15 Feb 09:00 is 10 Jan 09:00: T1 is exactly on the edge and counts.
        flags = recurring_failures(utc(2026, 2, 15, 9), days=36, threshold=3)
        assert any(f.kind == "asset" for f in flags)

    def test_just_below_the_threshold_is_not_flagged(self, asset_tickets):
        # One second later T1 leaves the window: two tickets, not flagged.
        assert not [f for f in recurring_failures(utc(2026, 2, 15, 9, 0, 1), days=36, threshold=3)
                    if f.kind == "asset"]
        # Same window, threshold 4: not flagged either.
        assert recurring_failures(utc(2026, 2, 15, 9), days=36, threshold=4) == []

    def test_organisation_filter_and_location(self, asset_tickets, monkeypatch):
        d = asset_tickets
        for day in (1, 2):
            opened_at(d.r1, utc(2026, 4, day, 9), "Salle 101 encore", location_id=d.l1.id, organisation_id=d.o2.id)
        flags = recurring_failures(utc(2026, 4, 5), days=7, threshold=3)
        assert [(f.kind, f.count) for f in flags] == [("location", 3)]  # T5 (1 Apr, 00:30 Paris) and two more
        assert recurring_failures(utc(2026, 4, 5), days=7, threshold=3, organisation_id=d.o1.id) == []

    def test_bad_settings_are_refused(self, app):
        with pytest.raises(ValueError):
            recurring_failures(utc(2026, 1, 1), days=0, threshold=3)
        with pytest.raises(ValueError):
            recurring_failures(utc(2026, 1, 1) - timedelta(days=1), days=3, threshold=0)
