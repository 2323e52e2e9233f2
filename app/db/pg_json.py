"""``sonicpy_json_or_null(text)``: a row's ``data`` as jsonb on PostgreSQL, or NULL when it is not JSON.

``content.data`` is text on both databases, and a row written by hand (``d1 execute``,
``psql``) may hold text that is not JSON. The triggers and queries that read it as a
document (the value counts, ``content_media``, a type change's count) call this function,
so such a row reads as no document instead of failing the write or the statement.

PARALLEL UNSAFE: the EXCEPTION block starts a subtransaction, which a parallel query
refuses ("cannot start subtransactions during a parallel operation"), so a statement over a
large collection would fail whenever the planner chose a parallel scan. Every install runs
the statement again (``content_triggers.install_pg_functions``), so an earlier install's
PARALLEL SAFE function is marked so too.
"""

PG_JSON_FUNCTION = "sonicpy_json_or_null"

PG_JSON_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_JSON_FUNCTION}(data text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE AS $body$
BEGIN
  RETURN data::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$body$"""

def pg_strings_walk(doc):
    """SQL for the strings of the jsonb document ``doc`` (an SQL expression), in document
    order, as one jsonb array built in a single pass. ``jsonb_path_query`` returning them one
    row each takes time quadratic in their number: an item holding a 120,000-row array took
    44 s on every write."""
    return f"jsonb_path_query_array({doc}, 'strict $.** ? (@.type() == \"string\")')"
