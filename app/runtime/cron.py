"""Cron expressions as Cloudflare's cron triggers take them: five fields, checked by croniter."""

from croniter import croniter

FIELDS = "minute hour day-of-month month day-of-week"
EXAMPLE = "*/5 * * * *"


def cron_problem(expression):
    """Why ``expression`` is not a usable cron expression, or None when it is.

    Five fields, as in ``[triggers] crons``: croniter would also take a sixth (seconds)
    field, which Cloudflare does not.
    """
    if not isinstance(expression, str):
        return f"{expression!r} is not a cron expression (a string such as {EXAMPLE!r})"
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        return f"{expression!r} is not a cron expression: five fields ({FIELDS}), e.g. {EXAMPLE!r}"
    return None
