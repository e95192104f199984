"""Settings: defaults < HELPDESK_CONFIG file < HELPDESK_* variables; unknown keys stop start-up."""
import pytest

from helpdesk.settings import SettingsError, load_defaults, load_settings


def test_defaults_declare_every_key_with_a_safe_value(tmp_path):
    settings = load_settings(environ={"HELPDESK_ENVIRONMENT": "development", "HELPDESK_VAR_DIR": str(tmp_path)})
    assert settings["database_url"] == f"sqlite:///{tmp_path / 'helpdesk.sqlite3'}"
    assert settings["default_language"] == "fr"
    assert len(settings["secret_key"]) >= 32  # generated for development, kept under var_dir
    assert (tmp_path / "dev-secret-key").read_text() == settings["secret_key"]
    again = load_settings(environ={"HELPDESK_ENVIRONMENT": "development", "HELPDESK_VAR_DIR": str(tmp_path)})
    assert again["secret_key"] == settings["secret_key"]


def test_file_then_environment_override(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('secret_key = "from-file"\nsite_name = "Support du collège"\nlog_level = "DEBUG"\n')
    settings = load_settings(environ={
        "HELPDESK_CONFIG": str(config),
        "HELPDESK_SITE_NAME": "Support (env)",
        "HELPDESK_DATABASE_URL": "postgresql+psycopg://db.example/helpdesk",
    })
    assert settings["secret_key"] == "from-file"
    assert settings["site_name"] == "Support (env)"
    assert settings["log_level"] == "DEBUG"
    assert settings["database_url"] == "postgresql+psycopg://db.example/helpdesk"


@pytest.mark.parametrize("environ, message", [
    ({"HELPDESK_SECRET_KEY": "x", "HELPDESK_COLOUR": "blue"}, "unknown setting 'colour'"),
    ({}, "setting 'secret_key' is required"),
    ({"HELPDESK_SECRET_KEY": "x", "HELPDESK_ENVIRONMENT": "staging"}, "setting 'environment'"),
    ({"HELPDESK_SECRET_KEY": "x", "HELPDESK_DEFAULT_LANGUAGE": "de"}, "default_language"),
])
def test_bad_environment_stops_with_the_key_named(environ, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=environ)


def test_unknown_key_in_file_is_named(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('secret_key = "x"\nsmtp_hots = "mail.example"\n')
    with pytest.raises(SettingsError, match=r"unknown setting 'smtp_hots' in .*site.toml"):
        load_settings(environ={"HELPDESK_CONFIG": str(config)})


def test_wrong_type_in_file_is_named(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('secret_key = 42\n')
    with pytest.raises(SettingsError, match="setting 'secret_key'.*expected str"):
        load_settings(environ={"HELPDESK_CONFIG": str(config)})


def test_unreadable_or_invalid_config_file(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(environ={"HELPDESK_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("secret_key = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(environ={"HELPDESK_CONFIG": str(broken)})


def test_every_key_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    missing = [key for key in load_defaults() if f"`{key}`" not in doc]
    assert missing == []


def test_business_hours_are_off_by_default_and_checked_at_start_up():
    settings = load_settings(environ={"HELPDESK_SECRET_KEY": "x"})
    assert settings["stats_business_hours"] is False
    assert (settings["stats_working_days"], settings["stats_day_opens"], settings["stats_day_closes"],
            settings["stats_holidays"]) == ([1, 2, 3, 4, 5], "08:00", "18:00", [])
    # A wrong value stops start-up even while the option is off: it would otherwise wait to be switched on.
    for key, raw in (("STATS_DAY_CLOSES", "07:00"), ("STATS_WORKING_DAYS", "[0]"), ("STATS_HOLIDAYS", '["1 mai"]')):
        with pytest.raises(SettingsError, match="business hours"):
            load_settings(environ={"HELPDESK_SECRET_KEY": "x", f"HELPDESK_{key}": raw})
