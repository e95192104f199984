"""A referent turns a ticket into a report in Chromium, the client signs on the canvas, the report locks."""
import io

import pytest

from helpdesk.extensions import db
from helpdesk.models import Intervention, ReportStatus, Role, SignatureRole, Status
from tests.factories import make_organisation, make_ticket, make_user
from tests.integration.browser import save_screenshot, sign_in_with_password

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "un mot de passe"


def ink_pixels(png: bytes) -> int:
    """How many pixels of the signature carry ink (alpha > 0)."""
    from PIL import Image  # WeasyPrint's own dependency

    histogram = Image.open(io.BytesIO(png)).convert("RGBA").getchannel("A").histogram()
    return sum(histogram[1:])


def draw_stroke(page, selector: str) -> None:
    """Sign like a hand would: press, a few moves across the pad, release."""
    box = page.locator(selector).bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.6)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x + w * (0.1 + 0.04 * step), y + h * (0.6 - 0.3 * ((step % 4) / 3)), steps=2)
    page.mouse.up()


@pytest.fixture
def people(app):
    org = make_organisation(name="Collège Jean Moulin", address="12 rue des Écoles\n69000 Lyon")
    requester = make_user(email="claire@example.test", display_name="Claire Martin", organisation=org)
    referent = make_user(Role.REFERENT, email="romain@example.test", display_name="Romain Tech", password=PASSWORD)
    ticket = make_ticket(requester=requester, status=Status.TAKEN, referent=referent,
                         subject="Imprimante : feuilles tachées")
    db.session.commit()
    return {"referent": referent, "ticket": ticket}


def test_ticket_to_signed_locked_report(app, live_server, page, new_page, people):
    ticket = people["ticket"]
    sign_in_with_password(page, live_server, people["referent"].email, PASSWORD)
    page.goto(f"{live_server.url}/desk/tickets/{ticket.id}")
    page.click("#to-report")
    page.wait_for_url("**/desk/reports/*")
    assert "Imprimante : feuilles tachées" in page.content()

    page.fill("#diagnosis", "Cartouche recyclée non conforme.")
    page.fill("#work_done", "Nettoyage des têtes, cartouche d'origine posée.")
    page.click("form.iv-form button[type=submit]")
    for kind, label, minutes in (("travel", "Aller-retour", "30"), ("work", "Nettoyage", "50")):
        page.select_option("#add-line #kind", kind)
        page.fill("#add-line #label", label)
        page.fill("#add-line #minutes", minutes)
        if kind == "travel":
            page.fill("#add-line #km", "18")
        page.click("#add-line button[type=submit]")
    page.select_option("#add-line #kind", "part")
    page.fill("#add-line #label", "Cartouche HP 301")
    page.fill("#add-line #quantity", "1")
    page.fill("#add-line #unit_price", "24.90")
    page.click("#add-line button[type=submit]")
    assert page.locator("tr.iv-line").count() == 3
    save_screenshot(page, "report-draft")

    # The client signs on the referent's phone.
    report_url = page.url.split("#")[0]
    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in_with_password(phone, live_server, people["referent"].email, PASSWORD)
    phone.goto(report_url)
    phone.click("#sign-client")
    phone.wait_for_url("**/sign/client")
    phone.fill("#signatory_name", "Claire Martin")
    phone.click("#signature-submit")  # an empty pad is refused in the page, nothing is posted
    assert phone.url.endswith("/sign/client") and phone.locator("canvas.iv-pad-empty").count() == 1
    draw_stroke(phone, "#signature-pad")
    save_screenshot(phone, "report-signing-phone")
    phone.click("#signature-submit")
    phone.wait_for_url(report_url + "*")
    assert phone.locator("#report-state").get_attribute("data-status") == "signed"
    assert phone.locator("#add-line").count() == 0  # no more editing once signed
    save_screenshot(phone, "report-signed-phone")

    db.session.expire_all()
    report = db.session.execute(db.select(Intervention).where(Intervention.ticket_id == ticket.id)).scalar_one()
    assert report.status == ReportStatus.SIGNED and report.pdf.startswith(b"%PDF")
    assert report.total_ht is not None and len(report.lines) == 3
    client_signature = report.signature(SignatureRole.CLIENT)
    assert client_signature.signatory_name == "Claire Martin"
    assert ink_pixels(client_signature.image_png) > 100
    download = page.request.get(report_url + "/report.pdf")
    assert download.ok and download.body() == report.pdf
    assert page.foreign_requests == [] and phone.foreign_requests == []
