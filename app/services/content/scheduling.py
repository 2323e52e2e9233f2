"""Scheduled publish, unpublish and archive, and the cron job that runs them exactly once.

``scheduled_content`` is the source of truth. ``content.scheduled_publish_at`` and
``scheduled_unpublish_at`` mirror it: each holds the earliest pending schedule of its kind
(unpublish and archive both take an item offline), recomputed in the same transaction as
every create, cancel and run.

Exactly once, even with overlapping runners (two cron processes, ``dev`` and system cron):
each due row is handled in one transaction that first claims it with ``UPDATE ... SET
status = 'running' WHERE id = ? AND status = 'pending'``; only the runner whose UPDATE
changed a row goes on. SQLite's ``BEGIN IMMEDIATE`` serialises those transactions across
processes; on PostgreSQL the second UPDATE waits for the row lock, then sees the row is no
longer pending. The transition runs in a savepoint of the same transaction, so a failure is
rolled back alone and recorded as ``failed`` with its error; a crash before the commit leaves
the row pending (``running`` is never committed), and the next run picks it up.

A schedule acts for whoever made it, with the rights they hold when it comes due, never with
the rights they held when they made it (``_actor``): the maker must still be active and still
hold ``content.publish`` (what making a schedule takes), and one made with an API token
(``api_token_id``) runs with that token's permissions within the maker's current role, and
only while the token exists and has not expired. Revoking a token, a password change or a
deactivation (which delete the user's tokens), a demotion or the token's expiry therefore stop
the schedules it made. They are checked when the schedule runs, not cancelled when the right
goes: an expiry has no transaction to cancel anything in, and one rule read at one moment
covers every way a right is lost. A schedule that does not run is ``failed`` with the reason
in ``error_message``, and a warning in the system log (category ``workflow``, source
``schedule``) says why, as it does for any schedule that fails.
"""

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import fn

from app.db.models import ApiToken, Content, ScheduledContent, SystemLog, User, now_ms
from app.services.api_tokens import granted, has_expired
from app.services.cache import Namespace
from app.services.cache_lost import invalidate_or_record
from app.services.content.locks import lock_row
from app.services.content.workflow import (
    Forbidden,
    Invalid,
    NotAllowed,
    NotFound,
    WorkflowError,
    load_content,
    transition,
)
from app.services.identity import Principal, RolePermissions
from app.services.logs import log_enabled

log = logging.getLogger("sonicpy.scheduling")

SCHEDULE_ACTIONS = ("publish", "unpublish", "archive")
STATUSES = ("pending", "running", "completed", "failed", "cancelled")
OFFLINE_ACTIONS = ("unpublish", "archive")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The latest time a schedule may name: its local time is shown in any zone (up to UTC+14),
# and Python's dates end with year 9999.
LATEST_SCHEDULE = datetime(9999, 12, 30, tzinfo=UTC)
LATEST_SCHEDULE_MS = (LATEST_SCHEDULE - EPOCH) // timedelta(milliseconds=1)
DEFAULT_TIMEZONE = "UTC"
MAX_TIMEZONE_LENGTH = 64
RUN_BATCH = 500
# What making a schedule takes (``app.api.schedules``), and so what running one still takes.
SCHEDULING_PERMISSION = "content.publish"
# Why a schedule made with an API token whose row is gone does not run.
TOKEN_GONE = ("The API token this action was scheduled with no longer exists: revoked, or deleted with all its "
              "owner's tokens by a password or email change or a deactivation")


def zone_of(name):
    """The ZoneInfo of the IANA name ``name``; Invalid (field ``timezone``) when unknown."""
    if not name or len(name) > MAX_TIMEZONE_LENGTH or "\x00" in name:
        raise Invalid("timezone", "timezone must be an IANA time zone name such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid("timezone", f"Unknown time zone {name!r} (expected an IANA name such as Europe/Paris)") from None


def parse_schedule_time(value, tz_name=None):
    """Epoch milliseconds (UTC) of ``value``.

    Args:
        value: epoch milliseconds (int); an ISO 8601 date-time with an offset
            (``2026-05-01T09:00:00+02:00``, ``...Z``); or a local date-time without one,
            read in ``tz_name``.
        tz_name: IANA time zone name; required for a local date-time, kept for display
            otherwise.

    Raises:
        Invalid: not a date-time, unknown zone, local time without a zone, a local time
            that does not exist in the zone (skipped by a daylight-saving change), or a time
            after ``LATEST_SCHEDULE``. An ambiguous local time (repeated by the change back)
            is read as the first one.
    """
    zone = zone_of(tz_name) if tz_name is not None else None
    when = value if isinstance(value, int) else _parse_time_text(value, zone, tz_name)
    if when > LATEST_SCHEDULE_MS:
        raise _too_late()
    return when


def _too_late():
    return Invalid("scheduled_at", f"scheduled_at must be before {LATEST_SCHEDULE.date().isoformat()}")


def _parse_time_text(value, zone, tz_name):
    """Epoch milliseconds of an ISO 8601 date-time (read in ``zone`` without an offset)."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid("scheduled_at", "scheduled_at must be an ISO 8601 date-time or epoch milliseconds") from None
    if moment.tzinfo is None:
        if zone is None:
            raise Invalid("scheduled_at", "scheduled_at has no UTC offset: add one or give a timezone")
        local = moment
        moment = moment.replace(tzinfo=zone)
        try:
            round_trip = moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        except OverflowError:  # past year 9999 in UTC
            raise _too_late() from None
        if round_trip != local:
            raise Invalid("scheduled_at", f"{local.isoformat()} does not exist in {tz_name} (daylight-saving gap)")
    return (moment - EPOCH) // timedelta(milliseconds=1)


def is_past(at_ms):
    """Whether the epoch ms ``at_ms`` is now or past: no time a schedule may be set for."""
    return at_ms <= now_ms()


def create_schedule(db, content_id, user, action, scheduled_at, tz_name=None, now=None):
    """Schedule ``action`` on ``content_id`` at ``scheduled_at`` for ``user`` (a Principal); return the new row.

    A ``user`` signed in with an API token has the token recorded: the schedule will run
    with that token's rights, while it lasts (``_actor``).

    Raises:
        NotFound: no such content. Invalid: unknown action, bad or past time, bad zone, a
            time the API token ``user`` acts with will have expired by.
    """
    if action not in SCHEDULE_ACTIONS:
        raise Invalid("action", f"action must be one of {', '.join(SCHEDULE_ACTIONS)}")
    when = parse_schedule_time(scheduled_at, tz_name)
    if when <= (now if now is not None else now_ms()):
        raise Invalid("scheduled_at", "scheduled_at must be in the future")
    token_id = _token_of(user)
    if token_id is not None:
        _check_token_lasts(token_id, when)
    with db.atomic():
        # Locked before the insert: the insert's foreign key check share-locks the content row,
        # and two such holders each waiting to lock it for the mirror columns would deadlock.
        load_content(content_id, lock=True)
        row = ScheduledContent.create(
            content=content_id, action=action, scheduled_at=when, timezone=tz_name or DEFAULT_TIMEZONE,
            user=user.id, api_token_id=token_id, status="pending", created_at=now_ms(),
        )
        sync_content_columns(content_id)
    return get_schedule(row.id)


def _token_of(user):
    """The id of the API token ``user`` acts with, or None for a password session (or a
    User row, which code outside requests, the CLI's and the tests', passes as the maker)."""
    return user.token_id if getattr(user, "via", None) == "token" else None


def _check_token_lasts(token_id, when):
    """Refuse a schedule at ``when`` that the API token ``token_id`` will not see: it would
    come due with the token expired and fail then, long after whoever made it could fix it."""
    expires_at = ApiToken.select(ApiToken.expires_at).where(ApiToken.id == token_id).scalar()
    if expires_at is not None and when >= expires_at:
        expiry = datetime.fromtimestamp(expires_at / 1000, tz=UTC).isoformat()
        raise Invalid("scheduled_at", f"scheduled_at is after this API token expires ({expiry}): a schedule "
                                      f"made with a token runs only while the token lasts")


def schedules_query():
    """Schedules with their content (id, title, slug, status) and user joined: one query."""
    return (
        ScheduledContent.select(
            ScheduledContent, Content.id, Content.title, Content.slug, Content.status,
            User.id, User.email, User.username,
        )
        .join(Content, on=(ScheduledContent.content == Content.id))
        .switch(ScheduledContent)
        .join(User, on=(ScheduledContent.user == User.id))
    )


def get_schedule(schedule_id):
    """The schedule ``schedule_id`` with content and user joined; NotFound otherwise."""
    row = schedules_query().where(ScheduledContent.id == schedule_id).first()
    if row is None:
        raise NotFound("Schedule not found")
    return row


def list_schedules(status=None, content_id=None, action=None, page=1, limit=20):
    """``(rows, total)`` of schedules matching the filters, soonest first."""
    query = schedules_query()
    if status is not None:
        query = query.where(ScheduledContent.status == status)
    if content_id is not None:
        query = query.where(ScheduledContent.content == content_id)
    if action is not None:
        query = query.where(ScheduledContent.action == action)
    total = query.count()
    rows = list(query.order_by(ScheduledContent.scheduled_at, ScheduledContent.id).paginate(page, limit))
    return rows, total


def cancel_schedule(db, schedule_id):
    """Cancel the pending schedule ``schedule_id``; return it.

    Raises:
        NotFound: no such schedule. NotAllowed: it is no longer pending.
    """
    with db.atomic():
        changed = (
            ScheduledContent.update(status="cancelled")
            .where((ScheduledContent.id == schedule_id) & (ScheduledContent.status == "pending"))
            .execute()
        )
        row = get_schedule(schedule_id)
        if not changed:
            raise NotAllowed(f"Only pending schedules can be cancelled; this one is {row.status}",
                             {"status": row.status})
        sync_content_columns(row.content_id)
    return row


def withdraw_publications(content_id, reason):
    """Cancel ``content_id``'s pending publish schedules, saying ``reason``; how many there were.

    Runs in the caller's transaction (the write that makes them stale).
    """
    return _withdraw(content_id, ("publish",), reason)


def withdraw_all(content_id, reason):
    """Cancel every pending schedule of ``content_id``, saying ``reason``; how many there were.

    Runs in the caller's transaction: a soft delete's, since a schedule made for the item
    before it went to the trash must neither fail on it there nor act on it once restored.
    """
    return _withdraw(content_id, SCHEDULE_ACTIONS, reason)


def _withdraw(content_id, actions, reason):
    cancelled = (
        ScheduledContent.update(status="cancelled", error_message=reason)
        .where((ScheduledContent.content == content_id) & ScheduledContent.action.in_(actions)
               & (ScheduledContent.status == "pending"))
        .execute()
    )
    if cancelled:
        sync_content_columns(content_id)
    return cancelled


def sync_content_columns(content_id):
    """Set content's ``scheduled_publish_at`` / ``scheduled_unpublish_at`` from its pending schedules.

    The content row is locked first (inside the caller's transaction): on PostgreSQL two
    transactions changing one item's schedules at once would otherwise each compute the
    earliest without the other's row, and the last to commit would write its own.
    """
    lock_row(Content.select(Content.id).where(Content.id == content_id)).execute()
    earliest = dict(
        ScheduledContent.select(ScheduledContent.action, fn.MIN(ScheduledContent.scheduled_at))
        .where((ScheduledContent.content == content_id) & (ScheduledContent.status == "pending"))
        .group_by(ScheduledContent.action)
        .tuples()
    )
    offline = [earliest[action] for action in OFFLINE_ACTIONS if action in earliest]
    Content.update(
        scheduled_publish_at=earliest.get("publish"), scheduled_unpublish_at=min(offline) if offline else None,
    ).where(Content.id == content_id).execute()


def run_due(db, now):
    """Run every pending schedule due at ``now`` (epoch ms), each exactly once.

    Args:
        db: the Peewee database.
        now: the cut-off; rows with ``scheduled_at <= now`` are due.

    Returns:
        ``{"due", "completed", "failed", "skipped", "items"}``; ``skipped`` counts rows another
        runner claimed first, or could not be claimed now (they stay pending).
    """
    due = [
        row.id for row in ScheduledContent.select(ScheduledContent.id)
        .where((ScheduledContent.status == "pending") & (ScheduledContent.scheduled_at <= now))
        .order_by(ScheduledContent.scheduled_at, ScheduledContent.id)
        .limit(RUN_BATCH)
    ]
    report = {"due": len(due), "completed": 0, "failed": 0, "skipped": 0, "items": []}
    roles = RolePermissions()  # read fresh once per run: a demoted user cannot publish by schedule
    for schedule_id in due:
        try:
            item = _run_one(db, schedule_id, roles, now)
        except Exception:
            log.exception("could not run schedule %s; it stays pending", schedule_id)
            item = None
        if item is None:
            report["skipped"] += 1
            continue
        report[item["status"]] += 1
        report["items"].append(item)
    return report


def _run_one(db, schedule_id, roles, now):
    """Claim and run one schedule in one transaction; None if another runner has it.

    The item's row is locked before the schedule's is claimed: the order every other writer
    of both takes (a delete or an edit withdrawing the item's schedules, a new schedule), so
    a delete racing the run waits for it instead of deadlocking with it on PostgreSQL.
    """
    content_id = ScheduledContent.select(ScheduledContent.content).where(ScheduledContent.id == schedule_id).scalar()
    if content_id is None:
        return None
    with db.atomic():
        lock_row(Content.select(Content.id).where(Content.id == content_id)).execute()
        claimed = (
            ScheduledContent.update(status="running")
            .where((ScheduledContent.id == schedule_id) & (ScheduledContent.status == "pending"))
            .execute()
        )
        if not claimed:
            return None
        row = ScheduledContent.get_by_id(schedule_id)
        error = None
        try:
            with db.atomic():
                transition(
                    db, row.content_id, _actor(row, roles, now), action=row.action, source="schedule",
                    metadata={"schedule_id": row.id, "scheduled_at": row.scheduled_at},
                )
        except WorkflowError as ex:
            error = ex.message
        except Exception as ex:
            log.exception("schedule %s failed unexpectedly", schedule_id)
            error = f"Internal error ({type(ex).__name__})"
        status = "failed" if error else "completed"
        ScheduledContent.update(status=status, executed_at=now_ms(), error_message=error).where(
            ScheduledContent.id == schedule_id
        ).execute()
        if error:
            _log_failure(row, error)
        sync_content_columns(row.content_id)
    item = {"id": schedule_id, "content_id": row.content_id, "action": row.action, "status": status}
    if error:
        item["error"] = error
    return item


def _actor(row, roles, now):
    """The Principal schedule ``row`` runs as: its maker, with the rights they hold at ``now``.

    Made from a password session, it acts with the maker's current role; made with an API
    token, with that token's permissions within the maker's current role. Either way the
    maker must still be allowed to make the schedule (``SCHEDULING_PERMISSION``): a right lost
    since takes the schedule with it.

    Raises:
        Forbidden: saying why not: the maker is gone or deactivated, the token is gone
            (revoked, or deleted by a password change) or has expired, or the role (through the token,
            when there is one) no longer grants ``SCHEDULING_PERMISSION``.
    """
    user = User.select(User.id, User.email, User.role, User.is_active).where(User.id == row.user_id).first()
    if user is None:
        raise Forbidden("The user who scheduled this action no longer exists")
    if not user.is_active:
        raise Forbidden("The user who scheduled this action is no longer active")
    role_grants = roles.of(user.role)
    if row.api_token_id is None:
        if SCHEDULING_PERMISSION not in role_grants:
            raise Forbidden(f"The user who scheduled this action may no longer schedule it "
                            f"(role {user.role} lacks {SCHEDULING_PERMISSION})")
        return Principal(id=user.id, email=user.email, role=user.role, permissions=role_grants, via="schedule")
    granted = _token_grants(row.api_token_id, role_grants, now)
    if SCHEDULING_PERMISSION not in granted:
        raise Forbidden(f"The API token this action was scheduled with no longer grants {SCHEDULING_PERMISSION} "
                        f"(role {user.role})")
    return Principal(id=user.id, email=user.email, role=user.role, permissions=granted, via="token",
                     token_id=row.api_token_id)


def _token_grants(token_id, role_grants, now):
    """What the API token ``token_id`` grants at ``now`` within ``role_grants``, as a request
    presenting it would get (``ApiTokens.resolve``); Forbidden when it is gone or expired."""
    token = ApiToken.select(ApiToken.permissions, ApiToken.expires_at).where(ApiToken.id == token_id).first()
    if token is None:
        # Its row is gone, which does not tell whether its owner revoked it or a password or
        # email change or a deactivation deleted it with all their tokens: the words say either.
        raise Forbidden(TOKEN_GONE)
    if has_expired(token, now):
        raise Forbidden("The API token this action was scheduled with has expired")
    return granted(token, role_grants)


def _log_failure(row, reason):
    """Say in the system log why schedule ``row`` did not run: nobody watches the runner, and
    a schedule's page is not where its maker's admin looks for what went wrong."""
    if not log_enabled("workflow", "warn"):
        return
    title = Content.select(Content.title).where(Content.id == row.content_id).scalar()
    SystemLog.create(
        level="warn",
        category="workflow",
        message=f"Scheduled {row.action} of {title or row.content_id} not run: {reason}",
        data={
            "schedule_id": row.id, "content_id": row.content_id, "action": row.action,
            "scheduled_at": row.scheduled_at, "api_token_id": row.api_token_id, "reason": reason,
        },
        user=row.user_id,
        source="schedule",
        created_at=now_ms(),
    )


def run_scheduled_content(event, env):
    """Cron job (``app.scheduled.JOBS``): run the schedules due at the event's time.

    When anything ran, the content cache generation is bumped in CACHE_KV so every worker's
    next read misses (``cache_invalidated`` is False when KV was unreachable: the bump is
    then recorded, and written by a later run, ``app.services.cache_lost``).
    """
    report = run_due(env.DB.db, event.scheduled_time)
    if report["items"]:
        report["cache_invalidated"] = not invalidate_or_record(env.CACHE_KV, (Namespace.CONTENT,))
    return report
