"""GET /healthz: 200 with the database, 503 without."""
from helpdesk import create_app


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_sqlite_unreachable(tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path}/no/such/dir/db.sqlite3", "var_dir": str(tmp_path)})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_healthz_postgresql_unreachable(tmp_path):
    # Port 9 (discard) has no PostgreSQL: the connection is refused at once.
    app = create_app({"database_url": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2",
                      "var_dir": str(tmp_path)})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
