"""``users create-admin``: create the first admin (there is no unauthenticated seed route);
``users set-email``: change a user's email (nobody changes their own in the API or the admin,
so a site's only admin has nobody else to ask).

``bootstrap_admin(runtime, echo)`` is what ``dev`` calls after migrating: on a database
without an admin it creates ``admin@example.com`` with a random password and prints how
to sign in and change the password (local development only; ``serve`` never does this);
on later runs it names the admins that exist.

The password comes, in this order, from ``--password``, from the environment variable
named by ``--password-env`` (default ``SONICPY_ADMIN_PASSWORD``), or from a hidden prompt
asked twice. Passing it in the environment keeps it out of the shell history and ``ps``.
"""

import contextlib
import os
import re

import click
import peewee

from app.cli.cache_refresh import refresh_cache
from app.cli.common import runtime_options
from app.db.models import User, bind_models
from app.services.accounts import (
    EMAIL_PATTERN,
    USERNAME_RULE,
    AccountError,
    Accounts,
    account_of,
    is_username,
    normalize_email,
)
from app.services.cache import Namespace
from app.services.errors import ServiceError
from app.services.users import update_user
from app.settings import Settings

DEFAULT_PASSWORD_ENV = "SONICPY_ADMIN_PASSWORD"
ADMINS_SHOWN = 3  # dev's start-up line names this many admins, then counts the others


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
def create_admin(
    runtime, email, password, password_env, username, first_name, last_name, update_existing, database_name,
):
    """Create an admin user (the first user of a new installation).

    Example: SONICPY_ADMIN_PASSWORD=... users create-admin --email you@example.com
    """
    if not re.fullmatch(EMAIL_PATTERN, email):
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="--email")
    # The rule every other way of naming a user obeys; it also keeps usernames ASCII, the only
    # letters SQLite's lower() folds, so the case-blind unique index means the same on PostgreSQL.
    if username is not None and not is_username(username):
        raise click.BadParameter(f"{username!r} is not a username ({USERNAME_RULE})", param_hint="--username")
    _, d1 = runtime.database(database_name)
    bind_models(d1.db)
    with _database_errors(database_name), d1.db.connection_context():
        existing = account_of(normalize_email(email))
    if existing is not None and not update_existing:
        # Said before the password is asked for: it would be of no use.
        state = "" if existing.is_active else ", deactivated"
        raise click.ClickException(
            f"a user with email {existing.email} already exists (role {existing.role}{state}); "
            "pass --update-existing to make it an active admin with the new password"
        )
    secret = _password(password, password_env)
    try:
        with _database_errors(database_name), d1.db.connection_context():
            user = Accounts(Settings()).create_admin(email, secret, username, first_name, last_name, update_existing)
    except AccountError as ex:
        raise click.ClickException(str(ex)) from None
    if existing is not None:
        # The existing account's sessions ended: running apps must not keep accepting them.
        refresh_cache(runtime, [Namespace.USERS])
    click.echo(f"✅ Admin {user.email} ({user.username}) ready. Sign in with POST /auth/login "
               f'{{"email": "{user.email}", "password": "..."}}')


@users.command("set-email")
@click.argument("email")
@click.argument("new_email")
@click.option("--database", "database_name", default="DB", show_default=True, help="D1 binding or database name.")
@runtime_options
def set_email(runtime, email, new_email, database_name):
    """Change the email of the user whose email is EMAIL to NEW_EMAIL.

    As an admin's change in the API: the user's sessions end, the new address is not
    verified, and a password-reset link mailed to the old one stops working. For the only
    admin of a site, whose own email nobody else can change.

    Example: users set-email old@example.com new@example.com
    """
    _, d1 = runtime.database(database_name)
    bind_models(d1.db)
    with _database_errors(database_name), d1.db.connection_context():
        user = account_of(normalize_email(email))
        if user is None:
            raise click.ClickException(f"no user has the email {normalize_email(email)}")
        try:
            changed = update_user(user.id, {"email": new_email})
        except AccountError as ex:
            raise click.ClickException(str(ex)) from None
        except ServiceError as ex:  # an open invitation: its address goes only with it
            raise click.ClickException(ex.message) from None
    if changed.email == user.email:
        click.echo(f"{user.email} has that email already: nothing changed.")
        return
    refresh_cache(runtime, [Namespace.USERS])
    click.echo(f"✅ {user.email} is now {changed.email}; its sessions have ended.")


@contextlib.contextmanager
def _database_errors(database_name):
    try:
        yield
    except peewee.OperationalError as ex:
        raise click.ClickException(
            f"cannot read or write users in {database_name}: {ex} (run `d1 migrations apply {database_name}` first)"
        ) from None


def bootstrap_admin(runtime, echo, url="http://127.0.0.1:8787", database_name="DB", email="admin@example.com"):
    """For ``dev``: create a first admin when there is none and print how to sign in.

    When admins exist already, say which (their passwords are theirs: never printed).

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
            admins = None if created else list(_admins())
    except AccountError as ex:
        echo(f"⚠ No admin yet and {email} cannot become one ({ex}); run `users create-admin --email ...`.")
        return None
    if created is None:
        _echo_existing_admins(echo, admins, url)
        return None
    user, password = created
    _echo_first_admin(echo, user.email, password, url)
    return user


def _admins():
    """The admin accounts, oldest first."""
    return User.select(User.email, User.is_active).where(User.role == "admin").order_by(User.created_at, User.id)


def _echo_first_admin(echo, email, password, url):
    json_headers = "-H 'Content-Type: application/json'"
    echo(f"🔑 Created the first admin: {email} / {password}")
    echo(f"   Sign in: curl -X POST {url}/auth/login {json_headers} "
         f"-d '{{\"email\": \"{email}\", \"password\": \"{password}\"}}'")
    echo("   Then change the password, with the token the sign-in answered "
         f"(new_password: at least {Settings().password_min_length} characters):")
    echo(f"   curl -X POST {url}/auth/change-password -H 'Authorization: Bearer TOKEN' {json_headers} "
         f"-d '{{\"current_password\": \"{password}\", \"new_password\": \"NEW PASSWORD\"}}'")
    echo("   Or make your own: `users create-admin --email you@example.com`.")


def _echo_existing_admins(echo, admins, url):
    active = [admin.email for admin in admins if admin.is_active]
    if not active:
        emails = ", ".join(admin.email for admin in admins)
        echo(f"⚠ Every admin account is deactivated ({emails}); "
             "run `users create-admin --email ... --update-existing` to restore one.")
        return
    more = f" and {len(active) - ADMINS_SHOWN} more" if len(active) > ADMINS_SHOWN else ""
    shown = ", ".join(active[:ADMINS_SHOWN]) + more
    echo(f"👤 Admin: {shown} (sign in with POST {url}/auth/login; "
         "a forgotten password: `users create-admin --email ... --update-existing`)")
