"""``users create-admin``: create the first admin (there is no unauthenticated seed route).

``bootstrap_admin(runtime, echo)`` is what ``dev`` calls after migrating: on a database
without an admin it creates ``admin@example.com`` with a random password and prints how
to sign in (local development only; ``serve`` never does this).

The password comes, in this order, from ``--password``, from the environment variable
named by ``--password-env`` (default ``SONICPY_ADMIN_PASSWORD``), or from a hidden prompt
asked twice. Passing it in the environment keeps it out of the shell history and ``ps``.
"""

import os
import re

import click
import peewee

from app.cli.common import runtime_options
from app.db.models import bind_models
from app.services.accounts import EMAIL_PATTERN, AccountError, Accounts
from app.settings import Settings

DEFAULT_PASSWORD_ENV = "SONICPY_ADMIN_PASSWORD"


def _password(password, password_env):
    if password:
        return password
    from_env = os.environ.get(password_env)
    if from_env:
        return from_env
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group()
def users():
    """Manage user accounts."""


@users.command("create-admin")
@click.option("--email", required=True, help="The admin's email (sign-in name).")
@click.option("--password", default=None, help="The password (prefer --password-env or the prompt).")
@click.option("--password-env", default=DEFAULT_PASSWORD_ENV, show_default=True,
              help="Environment variable holding the password when --password is not given.")
@click.option("--username", default=None, help="Username (default: derived from the email).")
@click.option("--first-name", default="", help="First name.")
@click.option("--last-name", default="", help="Last name.")
@click.option("--update-existing", is_flag=True,
              help="If the email already has an account, make it an active admin with this password.")
@click.option("--database", "database_name", default="DB", show_default=True, help="D1 binding or database name.")
@runtime_options
def create_admin(runtime, email, password, password_env, username, first_name, last_name, update_existing, database_name):
    """Create an admin user (the first user of a new installation)."""
    if not re.fullmatch(EMAIL_PATTERN, email):
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="--email")
    _, d1 = runtime.database(database_name)
    bind_models(d1.db)
    accounts = Accounts(Settings())
    secret = _password(password, password_env)
    try:
        with d1.db.connection_context():
            user = accounts.create_admin(email, secret, username, first_name, last_name, update_existing)
    except AccountError as ex:
        raise click.ClickException(str(ex)) from None
    except peewee.OperationalError as ex:
        raise click.ClickException(
            f"cannot write users to {database_name}: {ex} (run `d1 migrations apply {database_name}` first)"
        ) from None
    click.echo(f"✅ Admin {user.email} ({user.username}) ready. Sign in with POST /auth/login "
               f'{{"email": "{user.email}", "password": "..."}}')


def bootstrap_admin(runtime, echo, url="http://127.0.0.1:8787", database_name="DB", email="admin@example.com"):
    """For ``dev``: create a first admin when there is none and print how to sign in.

    Args:
        runtime: the command's Runtime (its DB binding must be migrated).
        echo: where to print (``click.echo``).
        url: the address ``dev`` serves, for the sign-in example.

    Returns:
        The created user, or None when an admin already exists (or could not be made).
    """
    _, d1 = runtime.database(database_name)
    bind_models(d1.db)
    try:
        with d1.db.connection_context():
            created = Accounts(Settings()).create_dev_admin(email)
    except AccountError as ex:
        echo(f"⚠ No admin yet and {email} cannot become one ({ex}); run `users create-admin --email ...`.")
        return None
    if created is None:
        return None
    user, password = created
    echo(f"🔑 Created the first admin: {user.email} / {password}")
    echo(f"   Sign in: curl -X POST {url}/auth/login -H 'Content-Type: application/json' "
         f"-d '{{\"email\": \"{user.email}\", \"password\": \"{password}\"}}'")
    echo("   Then change the password (POST /auth/change-password) or run `users create-admin` for your own account.")
    return user
