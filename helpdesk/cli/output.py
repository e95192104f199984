"""Small output helpers shared by the command modules."""
from __future__ import annotations

import json
from datetime import date, datetime
from enum import Enum
from typing import Any

import click


def _default(value: Any):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, default=_default, ensure_ascii=False, indent=2))


def bad_argument(message: str) -> None:
    """Stop with a one-line error and exit code 2 (a bad argument, as click's own usage errors)."""
    raise click.exceptions.Exit(_print_error(message, 2))


def refuse(message: str) -> None:
    """Stop with a one-line error and exit code 1 (the arguments were fine, the action was refused)."""
    raise click.exceptions.Exit(_print_error(message, 1))


def _print_error(message: str, code: int) -> int:
    click.echo(f"Error: {message}", err=True)
    return code
