"""Collection sync: collection definition files in the repo -> the ``collections`` table.

Each ``*.json`` file of the collections folder holds one collection definition
(``app.services.collection_schema.CollectionConfig``). ``sync_collections`` creates, updates
or leaves unchanged the row of each, and deactivates managed collections whose file is gone.

Where SonicJS's own sync goes wrong (it rewrites unchanged rows and never removes anything), this one:

* compares schemas by value: the stored JSON is parsed and put in the same canonical form as
  the file's, so key order inside a field and whitespace don't count and an unchanged
  collection is never rewritten (its ``updated_at`` stays). The order of the fields does
  count: it is the order forms show them in;
* deactivates (``is_active = 0``, never deletes: content still points at it) every managed
  collection whose file is gone, and reactivates it when the file comes back;
* reports an invalid file with the file and the field at fault, and syncs the other files.
  A collection whose file is invalid is left as it is (not deactivated): the file is there,
  only broken. When an invalid file's collection name cannot even be read, no collection is
  deactivated in that run, since it might be that file's;
* refuses, like an invalid file, a file whose schema changes a field's type, or adds one,
  while items of the collection hold values the new type does not accept
  (``app.services.type_changes``): the collection is left as it is, the message names the
  field, the types, the number of items and some of their ids;
* refuses, like an invalid file, a file whose reference field names a collection that is
  neither in the database (by name or id) nor defined by a file of the folder that is not
  refused itself, nor its own; a target the field already had in the stored schema is kept,
  as the collections API keeps it;
* runs all its changes in ONE transaction, each collection inside its own savepoint: a
  database error on one collection is reported and undone alone, the others commit
  together, and two syncs (say, two ``dev`` starts) never interleave. On PostgreSQL it locks
  every collection row first, so content writes in flight finish before it locks
  ``content`` for any of them (``type_changes.lock_every_schema``).

Other decisions: a file whose collection already exists unmanaged (made through the API)
takes it over, as SonicJS does; ``listFields`` is stored (``collections.list_fields``, NULL
when the file has none or an empty list: the admin list's default columns) and a change to it
alone is an update; ``icon``, ``color``, ``defaultSort`` and ``searchFields`` are validated but
not stored (the table has no columns for them).
"""

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import peewee

from app.db.models import Collection, now_ms
from app.db.schema_turns import take_schema_turn
from app.services.collection_schema import (
    CollectionConfigError,
    canonical_json,
    parse_collection_config,
    parse_schema,
    schema_to_builtins,
    unknown_reference_message,
    unknown_reference_targets,
)
from app.services.collections import collection_keys
from app.services.field_indexes import lock_for_drops, sync_field_indexes
from app.services.type_changes import FieldTypeConflict, check_type_changes, for_schema_change, lock_every_schema

DEFAULT_DIR = Path("app") / "collections"
DIR_VAR = "COLLECTIONS_DIR"

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
DEACTIVATED = "deactivated"
ERROR = "error"
STATUSES = (CREATED, UPDATED, UNCHANGED, DEACTIVATED, ERROR)


class CollectionSyncError(Exception):
    """The sync cannot run at all (e.g. the collections folder does not exist)."""


@dataclass(frozen=True)
class CollectionFile:
    """A valid collection definition and the file it came from."""

    path: Path
    config: object  # CollectionConfig
    notes: tuple = ()  # what the sync changed in the file's definition to accept it


@dataclass(frozen=True)
class FileError:
    """An unusable file: ``messages`` each read ``"<file>: <path>: <problem>"``.

    ``name`` is the collection name the file declares, when it could be read.
    """

    path: Path
    name: str | None
    messages: tuple


@dataclass(frozen=True)
class SyncResult:
    """What happened to one collection (or one invalid file)."""

    name: str
    status: str
    message: str
    path: Path | None = None


@dataclass
class SyncReport:
    """All results of one sync, in file order then deactivations."""

    results: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def counts(self):
        """``{status: number}`` for every status, zeros included."""
        return {status: sum(r.status == status for r in self.results) for status in STATUSES}

    @property
    def ok(self):
        """True when no file or collection failed."""
        return not any(r.status == ERROR for r in self.results)

    def by_name(self):
        """``{collection name: SyncResult}`` (invalid files without a name are left out)."""
        return {r.name: r for r in self.results if r.name}

    def summary(self):
        """One line: ``2 created, 0 updated, 1 unchanged, 0 deactivated, 1 error``."""
        counts = self.counts()
        return ", ".join(f"{counts[s]} {s if s != ERROR or counts[s] == 1 else 'errors'}" for s in STATUSES)


def display_path(path):
    """``path`` relative to the working directory when it is below it (shorter messages)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def collections_dir(config):
    """The collections folder of a bindings.toml Config, and whether it was set explicitly.

    ``[vars] COLLECTIONS_DIR`` (relative to the bindings.toml folder) wins; otherwise it is
    ``app/collections`` beside bindings.toml, i.e. in the project.
    """
    base = Path(config.path).resolve().parent
    configured = config.vars.get(DIR_VAR)
    if configured:
        return base / configured, True
    return base / DEFAULT_DIR, False


# --- loading files --------------------------------------------------------------------------


def load_collection_files(directory):
    """Read and validate every ``*.json`` file of ``directory`` (sorted by name).

    Returns:
        ``(configs, errors)``: a ``CollectionFile`` per valid file and a ``FileError`` per
        invalid one (bad JSON, bad definition, or a name another file already uses).

    Raises:
        CollectionSyncError: ``directory`` is not a folder.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CollectionSyncError(f"collections folder not found: {display_path(directory)}")
    configs, errors, seen = [], [], {}
    for path in sorted(p for p in directory.glob("*.json") if p.is_file() and not p.name.startswith(".")):
        loaded = _load_file(path)
        if isinstance(loaded, FileError):
            errors.append(loaded)
            continue
        name = loaded.config.name
        if name in seen:
            errors.append(FileError(path, name, (
                f"{display_path(path)}: name: collection {name!r} is already defined by "
                f"{display_path(seen[name])}",)))
            continue
        seen[name] = path
        configs.append(loaded)
    return configs, errors


def _load_file(path):
    shown = display_path(path)
    try:
        data = path.read_bytes()
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as ex:
        return FileError(path, None, (f"{shown}: {json_error_position(data, str(ex))}",))
    except (OSError, UnicodeDecodeError) as ex:
        return FileError(path, None, (f"{shown}: cannot read: {ex}",))
    raw, notes = _first_of_repeated_list_fields(raw, shown)
    try:
        return CollectionFile(path, parse_collection_config(raw), notes)
    except CollectionConfigError as ex:
        name = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else None
        return FileError(path, name, tuple(f"{shown}: {error}" for error in ex.errors))


def _first_of_repeated_list_fields(raw, shown):
    """``(raw, notes)``: ``raw`` with each name of its ``listFields`` kept once (the first).

    The collections API refuses a repeated name, but definition files that earlier syncs
    accepted may hold one: a column shown twice is harmless, so the file still syncs, with a
    note saying what was dropped, rather than failing ``collections sync`` and ``dev``.
    """
    names = raw.get("listFields") if isinstance(raw, dict) else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return raw, ()  # not a list of names: the definition's own check says what is wrong
    unique = list(dict.fromkeys(names))
    if len(unique) == len(names):
        return raw, ()
    repeated = [name for name in unique if names.count(name) > 1]
    note = (f"{shown}: listFields: {', '.join(map(repr, repeated))} listed more than once; "
            "the first of each kept")
    return {**raw, "listFields": unique}, (note,)


_BYTE_OFFSET = re.compile(r"\s*\(byte (\d+)\)$")


def json_error_position(data, message):
    """msgspec's decode error as ``line L, column C: invalid JSON: <reason>``.

    msgspec gives a byte offset (``invalid character (byte 24)``), which no editor shows;
    a truncated document has none, so its error points at the end of the file.
    """
    if not data.strip():
        return "invalid JSON: the file is empty"
    found = _BYTE_OFFSET.search(message)
    offset = int(found.group(1)) if found else len(data)
    reason = message[:found.start()] if found else "the file ends before the JSON does"
    reason = reason.removeprefix("JSON is malformed: ")
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return f"line {line}, column {column}: invalid JSON: {reason}"


# --- syncing --------------------------------------------------------------------------------


def new_collection_id(name):
    """SonicJS's id format for collections made by sync: ``col-<name>-<8 hex>``."""
    return f"col-{name}-{uuid.uuid4().hex[:8]}"


def sync_collections(directory, now=None):
    """Sync the definition files of ``directory`` into the ``collections`` table.

    The models must be bound first (``app.db.models.bind_models(env.DB.db)``).

    Args:
        directory: the collections folder.
        now: the timestamp (epoch ms) to write; defaults to the current time.

    Returns:
        A ``SyncReport`` with one result per file and per deactivated collection.

    Raises:
        CollectionSyncError: ``directory`` is not a folder.
    """
    configs, errors = load_collection_files(directory)
    now = now_ms() if now is None else now
    report = SyncReport(notes=[note for loaded in configs for note in loaded.notes])
    for error in errors:
        label = error.name or Path(error.path).stem
        report.results.append(SyncResult(label, ERROR, "\n".join(error.messages), error.path))
    db = Collection._meta.database
    with db.atomic():
        take_schema_turn(db)
        lock_every_schema(db)  # before content: a collection's check locks it (type_changes)
        lock_for_drops(db, _schemas_changed(configs))
        report.results.extend(_sync_files(db, configs, now))
        if any(error.name is None for error in errors):
            report.notes.append("no collection was deactivated: an invalid file's collection name "
                                "could not be read, and it may be one of them")
        else:
            keep = {c.config.name for c in configs} | {e.name for e in errors}
            report.results.extend(_deactivate_missing(db, keep, now))
        created, dropped = sync_field_indexes(db)
    report.notes += [f"created index {name}" for name in created] + [f"dropped index {name}" for name in dropped]
    return report


def _sync_files(db, configs, now):
    """``_sync_one`` each of ``configs``; their results.

    A reference may name the collections there are and those this sync creates. Which it
    creates is known only once each file is tried: when one refers to a collection whose
    file is then refused, the pass is rolled back and tried again without that name, so no
    reference is saved naming a collection that was never made. Each pass leaves out one
    name more, so it ends.
    """
    known = collection_keys() | {loaded.config.name for loaded in configs}
    while True:
        with db.atomic() as attempt:
            results = [_sync_one(db, loaded, now, known) for loaded in configs]
            never_made = {result.name for result in results if result.status == ERROR} - collection_keys()
            if not never_made & known:
                return results
            attempt.rollback()
        known -= never_made


def _schemas_changed(configs):
    """``{collection id: the schema its file gives}`` of the collections that exist already
    (new ones only add fields to index, so leaving them out never hides a drop)."""
    ids = dict(Collection.select(Collection.name, Collection.id).tuples())
    return {ids[loaded.config.name]: _row_values(loaded.config)[Collection.schema]
            for loaded in configs if loaded.config.name in ids}


def _sync_one(db, loaded, now, known):
    """Create, update or leave one collection, inside its own savepoint; ``known`` holds the
    names and ids a reference field may name."""
    config, path = loaded.config, loaded.path
    try:
        with db.atomic():
            existing = for_schema_change(Collection.select().where(Collection.name == config.name)).first()
            unknown = unknown_reference_targets(schema_to_builtins(config.schema), known,
                                                existing.schema if existing is not None else None)
            if unknown:
                return SyncResult(config.name, ERROR, _unknown_targets(path, unknown), path)
            if existing is None:
                _create(config, now)
                return SyncResult(config.name, CREATED, f"created collection {config.display_name!r}", path)
            changes = _changes(existing, config)
            if not changes:
                return SyncResult(config.name, UNCHANGED, "up to date", path)
            values = _row_values(config)
            if "schema" in changes:
                check_type_changes(db, existing.id, existing.schema, values[Collection.schema])
            values[Collection.updated_at] = now
            Collection.update(values).where(Collection.id == existing.id).execute()
            return SyncResult(config.name, UPDATED, "changed: " + ", ".join(changes), path)
    except FieldTypeConflict as ex:
        return SyncResult(config.name, ERROR, _type_conflicts(path, ex), path)
    except peewee.DatabaseError as ex:
        return SyncResult(config.name, ERROR, f"{display_path(path)}: database error: {str(ex).strip()}", path)


def _unknown_targets(path, unknown):
    """One ``"<file>: <path>: <problem>"`` line per reference target no collection has."""
    return "\n".join(f"{display_path(path)}: {where}: {unknown_reference_message(name)}" for where, name in unknown)


def _type_conflicts(path, ex):
    """One ``"<file>: <path>: <problem>"`` line per field whose type change items refuse."""
    lines = []
    for conflict in ex.conflicts:
        ids = ", ".join(conflict.example_ids) + (", ..." if conflict.items > len(conflict.example_ids) else "")
        lines.append(f"{display_path(path)}: schema.properties.{conflict.change.field}.type: {conflict.message()}"
                     f" (ids: {ids}); change or clear those values, then sync again")
    return "\n".join(lines)


def _row_values(config):
    return {
        Collection.display_name: config.display_name,
        Collection.description: config.description or None,
        Collection.schema: schema_to_builtins(config.schema),
        Collection.is_active: config.is_active,
        Collection.managed: config.managed,
        Collection.list_fields: config.list_fields or None,
    }


def _create(config, now):
    values = {field.name: value for field, value in _row_values(config).items()}
    Collection.insert(id=new_collection_id(config.name), name=config.name, created_at=now, updated_at=now,
                      **values).execute()


def _stored_schema(value):
    """The stored schema in canonical form, or None when it is not a valid schema."""
    if isinstance(value, (str, bytes)):
        return None  # not JSON at all (JSONField hands undecodable text back as is)
    try:
        return schema_to_builtins(parse_schema(value))
    except CollectionConfigError:
        return None


def _changes(existing, config):
    """The names of what differs between the row and the file (empty: unchanged)."""
    changes = []
    wanted_schema = canonical_json(schema_to_builtins(config.schema))
    stored = _stored_schema(existing.schema)
    if stored is None or canonical_json(stored) != wanted_schema:
        changes.append("schema")
    if existing.display_name != config.display_name:
        changes.append("displayName")
    if (existing.description or None) != (config.description or None):
        changes.append("description")
    if bool(existing.is_active) != config.is_active:
        changes.append("reactivated" if config.is_active else "deactivated by its file")
    if bool(existing.managed) != config.managed:
        changes.append("now managed by its file" if config.managed else "no longer managed")
    if existing.list_fields != (config.list_fields or None):
        changes.append("listFields")
    return changes


def _deactivate_missing(db, keep, now):
    """Deactivate managed, active collections that no file defines any more."""
    gone = (Collection.select(Collection.id, Collection.name)
            .where(Collection.managed == True, Collection.is_active == True)  # noqa: E712 (SQL)
            .order_by(Collection.name))
    results = []
    for row in list(gone):
        if row.name in keep:
            continue
        with db.atomic():
            Collection.update(is_active=False, updated_at=now).where(Collection.id == row.id).execute()
        results.append(SyncResult(row.name, DEACTIVATED, "its file is gone: deactivated (the row and its "
                                                         "content are kept)"))
    return results


def describe_result(result):
    """A human line for a result (the CLI prints these)."""
    where = f" ({display_path(result.path)})" if result.path and result.status != ERROR else ""
    return f"{result.status:<11} {result.name}{where}: {result.message}"

