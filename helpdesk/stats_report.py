"""The stats page's content: every indicator as a table (shown under its chart, exported as CSV).

A Table holds plain values (str, int, float, None), so the HTML page, the CSV export and the
monthly summary mail all read the same rows.
"""
from __future__ import annotations

import csv
import gc
import io
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from markupsafe import Markup

from . import charts
from .business_hours import BusinessHours
from .contract_stats import HoursRow, ResponseRow, contract_hours, response_compliance
from .ratings import SCORES, Satisfaction, satisfaction
from .recurring import RecurringFlag, recurring_failures
from .stats import Indicators, Period, compute_indicators

BREAKDOWN_ROWS_SHOWN = 10  # rows drawn in a breakdown chart; the table and the CSV hold all of them
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): names come from mail.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    key: str  # the CSV file name and the anchor on the page
    title: str
    columns: list[str]
    rows: list[list]
    chart: Markup | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class StatsReport:
    period: Period
    organisation_id: int | None
    indicators: Indicators
    satisfaction: Satisfaction
    recurring: list[RecurringFlag]
    recurring_days: int
    recurring_threshold: int
    tables: list[Table]

    def table(self, key: str) -> Table | None:
        return next((t for t in self.tables if t.key == key), None)


def hours(seconds: float | None) -> float | None:
    """Seconds as hours rounded to 0.01 h (36 s), the unit of every duration we show."""
    return None if seconds is None else round(seconds / 3600, 2)


def percent(ratio: float | None) -> float | None:
    return None if ratio is None else round(100 * ratio, 1)


@contextmanager
def _cyclic_gc_paused():
    """Pause the cycle collector while a report is built, then let it run once as usual.

    A report over 100,000 tickets keeps tens of thousands of row values alive at once, and the
    collector walked them again and again (50-100 ms of a ~400 ms report, docs/benchmarks.md);
    nothing here builds reference cycles, and reference counting frees everything else at once.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_report(period: Period, organisation_id: int | None, *, recurring_days: int, recurring_threshold: int,
                 now: datetime, business_hours: BusinessHours | None = None) -> StatsReport:
    """Compute every indicator of the period and lay them out as tables with their charts."""
    with _cyclic_gc_paused():
        ind = compute_indicators(period, organisation_id, business_hours)
        sat = satisfaction(period, organisation_id)
        until = min(now, period.end_utc)
        flags = recurring_failures(until, recurring_days, recurring_threshold, organisation_id)
        tables = [_overview(ind, sat), _monthly(ind), _delays(ind), *_breakdowns(ind),
                  _recurring(flags, recurring_days, recurring_threshold), *_satisfaction_tables(sat),
                  _response_times(response_compliance(period, now, organisation_id, opened=ind.opened_tickets)),
                  _contract_hours(contract_hours(period, organisation_id))]
    return StatsReport(period, organisation_id, ind, sat, flags, recurring_days, recurring_threshold, tables)


def _overview(ind: Indicators, sat: Satisfaction) -> Table:
    o = ind.overview
    rows = [
        [_("Tickets ouverts"), o.opened],
        [_("Tickets fermés"), o.closed],
        [_("Tickets sans suite"), o.no_action],
        [_("Taux de réouverture (%)"), percent(o.reopen_rate)],
        [_("Réouvertures"), o.reopen_events],
        [_("Tickets en cours au début"), o.backlog_start],
        [_("Tickets en cours à la fin"), o.backlog_end],
        [_("Délai de prise en charge médian (h)"), hours(o.take.median)],
        [_("Délai de prise en charge moyen (h)"), hours(o.take.mean)],
        [_("Délai de prise en charge, 90e centile (h)"), hours(o.take.p90)],
        [_("Temps moyen de résolution, MTTR (h)"), hours(o.resolve.mean)],
        [_("Temps de résolution médian (h)"), hours(o.resolve.median)],
        [_("Temps de résolution, 90e centile (h)"), hours(o.resolve.p90)],
        [_("MTTR sans les tickets rouverts (h)"), hours(o.resolve_first_time.mean)],
        [_("Satisfaction moyenne (1 à 5)"), None if sat.overall.mean is None else round(sat.overall.mean, 2)],
        [_("Notes reçues"), sat.overall.count],
    ]
    return Table("overview", _("Vue d'ensemble"), [_("Indicateur"), _("Valeur")], rows, notes=[
        _("Le MTTR va de la création à la dernière fermeture : le temps passé rouvert compte. "
          "Les tickets sans suite n'y entrent pas."), duration_note(ind),
    ])


def duration_note(ind: Indicators) -> str:
    """How the durations are counted: clock hours, or business hours with their days and times."""
    hours = ind.business_hours
    if hours is None:
        return _("Délais en heures d'horloge.")
    return _("Délais en heures ouvrées : %(opens)s–%(closes)s, jours ouvrés seulement, jours fériés exclus "
             "(fuseau %(tz)s).", opens=hours.opens.strftime("%H:%M"), closes=hours.closes.strftime("%H:%M"),
             tz=hours.tz)


def _monthly(ind: Indicators) -> Table:
    labels = [b.label for b in ind.buckets]
    unit = _("Jour") if ind.period.daily else _("Mois")
    rows = [[b.label, b.opened, b.closed, b.no_action, b.reopened, b.backlog] for b in ind.buckets]
    chart = charts.column_chart(_("Tickets ouverts et fermés"), labels, [
        (_("ouverts"), [b.opened for b in ind.buckets]), (_("fermés"), [b.closed for b in ind.buckets]),
        (_("en cours (fin)"), [b.backlog for b in ind.buckets]),
    ])
    return Table("activity", _("Activité et tickets en cours"),
                 [unit, _("Ouverts"), _("Fermés"), _("Sans suite"), _("Rouverts"), _("En cours à la fin")],
                 rows, chart)


def _delays(ind: Indicators) -> Table:
    labels = [b.label for b in ind.buckets]
    unit = _("Jour") if ind.period.daily else _("Mois")
    rows = [[b.label, b.take.count, hours(b.take.median), b.resolve.count, hours(b.resolve.mean),
             hours(b.resolve.median)] for b in ind.buckets]
    chart = charts.line_chart(_("Délais (heures)"), labels, [
        (_("prise en charge (médiane)"), [hours(b.take.median) for b in ind.buckets]),
        (_("résolution (moyenne, MTTR)"), [hours(b.resolve.mean) for b in ind.buckets]),
    ])
    return Table("delays", _("Délais de prise en charge et de résolution"),
                 [unit, _("Pris en charge"), _("Prise en charge médiane (h)"), _("Fermés"), _("MTTR (h)"),
                  _("Résolution médiane (h)")], rows, chart, notes=[duration_note(ind)])


def _breakdowns(ind: Indicators) -> list[Table]:
    titles = {
        "category": (_("Tickets par catégorie"), _("Catégorie")),
        "location": (_("Tickets par lieu"), _("Lieu")),
        "asset": (_("Tickets par matériel"), _("Matériel")),
        "organisation": (_("Tickets par organisation"), _("Organisation")),
        "requester": (_("Tickets par demandeur"), _("Demandeur")),
        "referent": (_("Tickets par référent"), _("Référent")),
    }
    total = ind.overview.opened
    tables = []
    for dimension, (title, column) in titles.items():
        rows = [[name or _("(aucun)"), count, percent(count / total) if total else None]
                for _id, name, count in ind.breakdowns[dimension]]
        chart = charts.hbar_chart(title, [(r[0], r[1]) for r in rows[:BREAKDOWN_ROWS_SHOWN]]) if rows else None
        tables.append(Table(f"by_{dimension}", title, [column, _("Tickets ouverts"), _("Part (%)")], rows, chart))
    return tables


def _recurring(flags: list[RecurringFlag], days: int, threshold: int) -> Table:
    kinds = {"asset": _("Matériel"), "location": _("Lieu"), "category": _("Catégorie")}
    rows = [[kinds[f.kind], f.name, f.count, " ".join(f"#{t[0]}" for t in f.tickets)] for f in flags]
    return Table("recurring", _("Pannes récurrentes"), [_("Type"), _("Nom"), _("Tickets"), _("Numéros")], rows,
                 notes=[_("%(threshold)s tickets ou plus en %(days)s jours, jusqu'à la fin de la période.",
                          threshold=threshold, days=days)])


def _satisfaction_tables(sat: Satisfaction) -> list[Table]:
    def mean(summary):
        return None if summary.mean is None else round(summary.mean, 2)

    score_columns = [f"{score}/5" for score in SCORES]
    by_month = Table("satisfaction_by_month", _("Satisfaction par mois de fermeture"),
                     [_("Mois"), _("Notes"), _("Moyenne")] + score_columns,
                     [[label, s.count, mean(s)] + [s.distribution[k] for k in SCORES] for label, s in sat.by_bucket])
    by_month.chart = charts.column_chart(
        _("Satisfaction moyenne"), [r[0] for r in by_month.rows], [(_("moyenne"), [r[2] for r in by_month.rows])])
    by_referent = Table("satisfaction_by_referent", _("Satisfaction par référent"),
                        [_("Référent"), _("Notes"), _("Moyenne")] + score_columns,
                        [[name or _("(aucun)"), s.count, mean(s)] + [s.distribution[k] for k in SCORES]
                         for _id, name, s in sat.by_referent])
    by_category = Table("satisfaction_by_category", _("Satisfaction par catégorie"),
                        [_("Catégorie"), _("Notes"), _("Moyenne")] + score_columns,
                        [[name or _("(aucune)"), s.count, mean(s)] + [s.distribution[k] for k in SCORES]
                         for _id, name, s in sat.by_category])
    comments = Table("satisfaction_comments", _("Derniers commentaires"),
                     [_("Ticket"), _("Note"), _("Commentaire"), _("Fermé le")],
                     [[f"#{tid}", score, comment, day.isoformat()] for tid, score, comment, day in sat.comments])
    return [by_month, by_referent, by_category, comments]


def _response_times(rows: list[ResponseRow]) -> Table:
    table = Table("response_times", _("Délai de prise en charge promis par contrat"),
                  [_("Client"), _("Délai promis (h)"), _("Tickets"), _("Dans le délai"), _("Hors délai"),
                   _("En attente"), _("Respect (%)")],
                  [[r.organisation, r.promised_hours, r.tickets, r.met, r.missed, r.pending, percent(r.rate)]
                   for r in rows],
                  notes=[_("Tickets ouverts sur la période par les clients dont le contrat promet un délai : "
                           "de la création à la prise en charge, en heures d'horloge.")])
    if rows:
        table.chart = charts.hbar_chart(table.title, [(f"{r.organisation} ({r.promised_hours} h)", percent(r.rate) or 0)
                                                      for r in rows[:BREAKDOWN_ROWS_SHOWN]], fmt=lambda v: f"{v:g} %")
    return table


def _contract_hours(rows: list[HoursRow]) -> Table:
    return Table("contract_hours", _("Heures incluses dans les contrats"),
                 [_("Client"), _("Contrat"), _("Période du"), _("Heures incluses"), _("Heures utilisées"),
                  _("Utilisé (%)")],
                 [[r.organisation, r.contract, r.period_start.isoformat(), hours(r.included_minutes * 60),
                   hours(r.used_minutes * 60), percent(r.share)] for r in rows],
                 notes=[_("Heures comptées sur le contrat par les rapports d'intervention signés.")])


def _csv_cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def table_csv(table: Table) -> str:
    """The table as CSV text (comma separated, every cell that a spreadsheet would run as a formula defused)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_csv_cell(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return out.getvalue()
