"""Demo data: a school and a client company, their people, and tickets in every status.

Loading twice changes nothing: every object is looked up by a natural key first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from . import workflow
from .extensions import db
from .models import Asset, Category, Location, Organisation, Priority, Role, Source, Status, Ticket, User
from .tickets import open_ticket
from .users import create_user

DEMO_PASSWORD = "demo-helpdesk"

ORGANISATIONS = [
    # client_number, name, address, billing mail, mail domains
    ("C-0001", "Collège Jean Moulin", "12 rue des Écoles\n69003 Lyon", "intendance@college-jm.example",
     "college-jm.example"),
    ("C-0002", "Menuiserie Dupont SARL", "4 chemin du Moulin\n38200 Vienne", "compta@dupont-menuiserie.example",
     "dupont-menuiserie.example"),
]

PEOPLE = [
    # email, name, role, organisation client number, language, org manager
    ("admin@helpdesk.example", "Alice Admin", Role.ADMIN, None, "fr", False),
    ("referent1@helpdesk.example", "Romain Référent", Role.REFERENT, None, "fr", False),
    ("referent2@helpdesk.example", "Rachel Tech", Role.REFERENT, None, "en", False),
    ("prof.martin@college-jm.example", "Claire Martin", Role.REQUESTER, "C-0001", "fr", False),
    ("direction@college-jm.example", "Paul Bernard", Role.REQUESTER, "C-0001", "fr", True),
    ("j.dupont@dupont-menuiserie.example", "Jean Dupont", Role.REQUESTER, "C-0002", "fr", True),
    ("office@dupont-menuiserie.example", "Emma Smith", Role.REQUESTER, "C-0002", "en", False),
]

CATEGORIES = ["Matériel", "Logiciel", "Réseau", "Impression", "Comptes et accès"]
LOCATIONS = [("Salle 101", "C-0001"), ("CDI", "C-0001"), ("Salle des professeurs", "C-0001"),
             ("Atelier", "C-0002"), ("Bureau", "C-0002")]
ASSETS = [
    # name (the day's date, letters if needed), kind, serial, organisation, location, warranty end
    ("2024-09-02", "PC fixe", "SN-JM-0001", "C-0001", "Salle 101", date(2027, 9, 2)),
    ("2024-09-02b", "Vidéoprojecteur", "SN-JM-0002", "C-0001", "Salle 101", date(2026, 9, 2)),
    ("2023-01-16", "Portable", "SN-DP-0001", "C-0002", "Bureau", date(2025, 1, 16)),
]

# requester, subject, body, target status path, assignee, category, location, asset
TICKETS = [
    ("prof.martin@college-jm.example", "Le vidéoprojecteur de la salle 101 ne s'allume plus",
     "Bonjour,\nle vidéoprojecteur ne démarre plus depuis ce matin.\nClaire", [],
     None, "Matériel", "Salle 101", "2024-09-02b"),
    ("prof.martin@college-jm.example", "Imprimante du CDI : bourrage papier",
     "L'imprimante du CDI affiche un bourrage en continu.", [Status.TAKEN],
     "referent1@helpdesk.example", "Impression", "CDI", None),
    ("direction@college-jm.example", "Comptes ENT des nouveaux élèves",
     "Il faut créer les comptes des 12 élèves arrivés cette semaine.", [Status.TAKEN, Status.IN_PROGRESS],
     "referent2@helpdesk.example", "Comptes et accès", None, None),
    ("j.dupont@dupont-menuiserie.example", "Le portable du bureau est très lent",
     "Le portable met 10 minutes à démarrer.", [Status.TAKEN, Status.IN_PROGRESS, Status.CLOSED],
     "referent1@helpdesk.example", "Matériel", "Bureau", "2023-01-16"),
    ("office@dupont-menuiserie.example", "Wi-Fi in the workshop drops every hour",
     "The Wi-Fi in the workshop disconnects about once an hour.", [Status.NO_ACTION],
     None, "Réseau", "Atelier", None),
    ("prof.martin@college-jm.example", "Mise à jour du logiciel de physique",
     "Pouvez-vous installer la nouvelle version sur le PC de la salle 101 ?", [Status.IN_PROGRESS],
     "referent1@helpdesk.example", "Logiciel", "Salle 101", "2024-09-02"),
]


@dataclass
class DemoSummary:
    created: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.created[kind] = self.created.get(kind, 0) + 1

    def describe(self) -> str:
        made = ", ".join(f"{n} {k}" for k, n in self.created.items()) or "nothing new (already loaded)"
        logins = "\n".join(f"  {email:<40} {role.value:<10} password: {DEMO_PASSWORD}"
                           for email, _, role, _, _, _ in PEOPLE)
        return f"demo data: {made}\ndemo logins:\n{logins}"


def _one(model, **where):
    return db.session.execute(db.select(model).filter_by(**where)).scalar_one_or_none()


def load_demo() -> DemoSummary:
    """Create whatever demo objects are missing; the caller commits."""
    summary = DemoSummary()
    orgs = {}
    for number, name, address, billing, domains in ORGANISATIONS:
        org = _one(Organisation, client_number=number)
        if org is None:
            org = Organisation(client_number=number, name=name, address=address, billing_email=billing,
                               mail_domains=domains)
            db.session.add(org)
            summary.count("organisations")
        orgs[number] = org

    people = {}
    for email, name, role, org_number, language, manager in PEOPLE:
        person = _one(User, email=email)
        if person is None:
            person = create_user(email, role, display_name=name, password=DEMO_PASSWORD, language=language,
                                 organisation=orgs.get(org_number))
            person.is_org_manager = manager
            summary.count("users")
        people[email] = person

    categories = {}
    for name in CATEGORIES:
        cat = _one(Category, name=name)
        if cat is None:
            cat = Category(name=name)
            db.session.add(cat)
            summary.count("categories")
        categories[name] = cat

    locations = {}
    for name, org_number in LOCATIONS:
        loc = _one(Location, name=name, organisation_id=orgs[org_number].id) if orgs[org_number].id else None
        if loc is None:
            loc = Location(name=name, organisation=orgs[org_number])
            db.session.add(loc)
            summary.count("locations")
        locations[name] = loc

    assets = {}
    db.session.flush()
    for name, kind, serial, org_number, loc_name, warranty_end in ASSETS:
        asset = _one(Asset, serial=serial)
        if asset is None:
            asset = Asset(name=name, kind=kind, serial=serial, organisation=orgs[org_number],
                          location=locations[loc_name], warranty_end=warranty_end)
            db.session.add(asset)
            summary.count("assets")
        assets[name] = asset
    db.session.flush()

    for email, subject, body, path, assignee, cat, loc, asset in TICKETS:
        if _one(Ticket, subject=subject) is not None:
            continue
        requester = people[email]
        ticket = open_ticket(
            requester, subject, body, source=Source.MAIL if len(path) % 2 == 0 else Source.WEB,
            priority=Priority.HIGH if "ne s'allume" in subject else Priority.NORMAL,
            category_id=categories[cat].id, location_id=locations[loc].id if loc else None,
            asset_id=assets[asset].id if asset else None,
        )
        if assignee:
            ticket.assignee = people[assignee]
        for status in path:
            actor = people[assignee] if assignee else people["referent1@helpdesk.example"]
            workflow.transition(ticket, status, actor=actor, note="")
        summary.count("tickets")
    return summary
