"""Folders and files of the local state that only the server's own user may read.

The state folder holds the whole database, the cache and the JWT signing key, so its
folders are created 0700 and its files 0600, whatever the process umask, and ones left
readable by an older version are tightened when they are next opened.

SQLite gives a database's ``-wal``, ``-shm`` and ``-journal`` files the permissions of the
database file itself, so creating the database file 0600 before SQLite first opens it (an
empty file is a valid empty database) covers them too; existing companions are tightened
as well, in case they were made before the database file was.
"""

import contextlib
import os
import threading
from pathlib import Path

PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_CREATING = threading.Lock()  # see private_sqlite_file


def private_folder(path):
    """Create ``path`` and any missing parent 0700, or tighten an existing ``path`` to 0700.

    Existing parents are left alone: they may be the project folder or ``/tmp``.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        # Another worker may create it first; either way it is then tightened below.
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, PRIVATE_FOLDER_MODE)
    _tighten(path, PRIVATE_FOLDER_MODE)
    return path


def private_sqlite_file(path):
    """Make sure the SQLite file ``path`` exists 0600 (its folder 0700) before SQLite opens it.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    private_folder(path.parent)
    # Created, never opened when it exists: closing any descriptor of a file drops every
    # POSIX lock the process holds on it, those of its open SQLite connections included (a
    # connection opened per thread calls this). Another process closing its last connection
    # would then take itself for the last user and checkpoint and delete the WAL under them,
    # splitting the database in two. A missing file has no connections; the lock keeps
    # another thread of this process from connecting while the new file's descriptor is open.
    with _CREATING:
        if not path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        if candidate.exists():
            _tighten(candidate, PRIVATE_FILE_MODE)
    return path


def _tighten(path, mode):
    # A file of another user (a state folder shared on purpose) cannot be changed; say nothing.
    with contextlib.suppress(PermissionError, FileNotFoundError):
        os.chmod(path, mode)
