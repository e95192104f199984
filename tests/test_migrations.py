"""Migrations build, from an empty database, exactly the schema the models describe."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from helpdesk import create_app
from helpdesk.extensions import db
from tests.conftest import PG_SERVER_URL, create_pg_database, drop_pg_database

ENGINES = ["sqlite"] + (["postgresql"] if PG_SERVER_URL else [])


@pytest.fixture(params=ENGINES)
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    url = create_pg_database("hd_migrations")
    yield url
    drop_pg_database(url)


def test_upgrade_from_empty_matches_models(empty_database_url, tmp_path):
    app = create_app({"database_url": empty_database_url, "var_dir": str(tmp_path)})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == []
