"""``sonicpy_json_or_null(text)``: a row's ``data`` as jsonb on PostgreSQL, or NULL when it is not JSON.

``content.data`` is text on both databases, and a row written by hand (``d1 execute``,
``psql``) may hold text that is not JSON. The triggers and queries that read it as a
document (the value counts, ``content_media``, a type change's count) call this function,
so such a row reads as no document instead of failing the write or the statement.
"""

PG_JSON_FUNCTION = "sonicpy_json_or_null"

PG_JSON_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_JSON_FUNCTION}(data text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $body$
BEGIN
  RETURN data::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$body$"""
