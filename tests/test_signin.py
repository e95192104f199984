"""sign_in() from tests.factories really signs in, and roles are enforced by staff_required."""
from flask_login import current_user
from helpdesk.auth import staff_required
from tests.factories import make_referent, make_user, sign_in
from helpdesk.extensions import db

def test_sign_in_helper(app):
    @app.get("/_whoami")
    @staff_required
    def whoami():
        return current_user.email
    client = app.test_client()
    app.login_manager.login_view = None
    assert client.get("/_whoami").status_code == 401
    ref = make_referent(email="r@example.test"); db.session.commit()
    sign_in(client, ref)
    r = client.get("/_whoami")
    assert r.status_code == 200 and r.data == b"r@example.test"
    req = make_user(); db.session.commit()
    c2 = app.test_client(); sign_in(c2, req)
    assert c2.get("/_whoami").status_code == 403
