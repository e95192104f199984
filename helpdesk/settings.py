"""Settings: config/default.toml < the file named by HELPDESK_CONFIG < HELPDESK_* variables.

Every key is declared once, in config/default.toml, with its default. A key that is not
declared there stops start-up, whether it comes from a file or from the environment.
"""
from __future__ import annotations

import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Mapping

from .business_hours import hours_from_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = PROJECT_ROOT / "config" / "default.toml"
ENV_PREFIX = "HELPDESK_"
# Variables with our prefix that are not settings (they select or feed the test harness).
ENV_NOT_SETTINGS = {"HELPDESK_CONFIG", "HELPDESK_TEST_DATABASE_URL", "HELPDESK_TEST_ARTIFACTS"}
DEV_ENVIRONMENTS = {"development", "testing"}
ENVIRONMENTS = {"production"} | DEV_ENVIRONMENTS


class SettingsError(Exception):
    """A setting is unknown, malformed or missing; the message names the key."""


def load_defaults() -> dict[str, Any]:
    """Read config/default.toml, the declaration of every setting."""
    with DEFAULTS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def _coerce_env(key: str, raw: str, default: Any) -> Any:
    """Turn an environment string into the type of the setting's default."""
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, (list, dict)):
            value = json.loads(raw)
            if not isinstance(value, type(default)):
                raise ValueError(raw)
            return value
    except (ValueError, json.JSONDecodeError) as exc:
        raise SettingsError(
            f"{ENV_PREFIX}{key.upper()}: expected {type(default).__name__}, got {raw!r}"
        ) from exc
    return raw


def _check_known(source: str, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r} in {source} (see config/default.toml)")


def _check_types(source: str, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    for key, value in values.items():
        default = defaults[key]
        expected = float if isinstance(default, float) else type(default)
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, bool):
            ok = False
        if not ok:
            raise SettingsError(f"setting {key!r} in {source}: expected {expected.__name__}, got {value!r}")


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the merged settings, checked and with derived paths resolved."""
    environ = os.environ if environ is None else environ
    defaults = load_defaults()
    settings = dict(defaults)

    config_file = environ.get("HELPDESK_CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            with path.open("rb") as fh:
                from_file = tomllib.load(fh)
        except OSError as exc:
            raise SettingsError(f"HELPDESK_CONFIG: cannot read {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"HELPDESK_CONFIG: {path} is not valid TOML: {exc}") from exc
        _check_known(str(path), from_file, defaults)
        _check_types(str(path), from_file, defaults)
        settings.update(from_file)

    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key not in defaults:
            raise SettingsError(f"unknown setting {key!r} from environment variable {name}")
        settings[key] = _coerce_env(key, raw, defaults[key])

    if overrides:
        _check_known("overrides", overrides, defaults)
        settings.update(overrides)

    return _finish(settings)


def _finish(settings: dict[str, Any]) -> dict[str, Any]:
    """Validate cross-key rules and fill values derived from others."""
    if settings["environment"] not in ENVIRONMENTS:
        raise SettingsError(
            f"setting 'environment' must be one of {sorted(ENVIRONMENTS)}, got {settings['environment']!r}"
        )
    if settings["default_language"] not in {"fr", "en"}:
        raise SettingsError("setting 'default_language' must be 'fr' or 'en'")
    try:
        hours_from_settings({**settings, "stats_business_hours": True})  # checked even when off
    except ValueError as exc:
        raise SettingsError(f"business hours settings (stats_working_days, stats_day_opens, stats_day_closes, "
                            f"stats_holidays, timezone): {exc}") from exc
    var_dir = Path(settings["var_dir"])
    if not var_dir.is_absolute():
        var_dir = PROJECT_ROOT / var_dir
    settings["var_dir"] = str(var_dir)
    if not settings["database_url"]:
        settings["database_url"] = f"sqlite:///{var_dir / 'helpdesk.sqlite3'}"
    if not settings["secret_key"]:
        if settings["environment"] not in DEV_ENVIRONMENTS:
            raise SettingsError(
                "setting 'secret_key' is required in production: set HELPDESK_SECRET_KEY "
                "or secret_key in the HELPDESK_CONFIG file"
            )
        settings["secret_key"] = _dev_secret(var_dir)
    return settings


def _dev_secret(var_dir: Path) -> str:
    """A per-checkout secret for development, kept under var_dir so sessions survive restarts."""
    path = var_dir / "dev-secret-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        var_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value
