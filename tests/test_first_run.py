"""What a new user meets first: the CLI wrapper, worker.py without dependencies, a quiet setup."""

import os
import subprocess
import sys

from tests.fixtures.app import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts"


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def test_worker_without_dependencies_prints_one_line_not_a_traceback():
    # -S leaves site-packages out: the interpreter a new user runs before any install.
    result = run([sys.executable, "-S", "worker.py", "--help"], cwd=PROJECT_ROOT)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "is not installed" in lines[0] and "scripts/sonicpy" in lines[0]


def test_gunicorn_import_of_worker_without_dependencies_still_raises():
    # A server importing the module must see the real error, not an exit.
    code = "import sys; sys.path.insert(0, '.');\ntry:\n import worker\nexcept ModuleNotFoundError:\n print('raised')"
    result = run([sys.executable, "-S", "-c", code], cwd=PROJECT_ROOT)
    assert result.stdout.strip() == "raised"


def test_cli_wrapper_runs_commands_from_any_folder(tmp_path):
    # The wrapper installs into .venv if needed, then runs in the caller's folder, so a
    # relative --config/--persist-to means what the user typed.
    (tmp_path / "bindings.toml").write_text((PROJECT_ROOT / "bindings.toml").read_text())
    result = run([str(SCRIPTS / "sonicpy"), "kv", "key", "list", "--persist-to", "state"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "state").is_dir()
    assert result.stdout.strip() == "[]"


def test_cli_wrapper_help_lists_the_commands():
    result = run([str(SCRIPTS / "sonicpy"), "--help"], cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    for command in ("dev", "serve", "d1", "kv", "r2", "collections", "users", "scheduled", "clock"):
        assert f"  {command} " in result.stdout or f"  {command}\n" in result.stdout


def test_setup_is_silent_when_nothing_changed():
    run(["bash", "-c", "source scripts/setup"], cwd=PROJECT_ROOT)  # installs once if needed
    result = run(["bash", "-c", "source scripts/setup"], cwd=PROJECT_ROOT)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


def setup_sandbox(tmp_path):
    """A project folder with this checkout's scripts/setup and a .venv whose python only logs
    its arguments (to ``calls``), so what setup would install shows without pip running."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / "scripts" / "setup").write_text((SCRIPTS / "setup").read_text())
    (project / "pyproject.toml").write_text((PROJECT_ROOT / "pyproject.toml").read_text())
    python = project / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >> "{project / "calls"}"\n')
    python.chmod(0o755)
    return project


def test_the_base_setup_reuses_a_current_test_install(tmp_path):
    # scripts/test and scripts/lint install the test extras, which hold the base install, so
    # the CLI wrapper and scripts/dev after them run no second pip install.
    project = setup_sandbox(tmp_path)
    stamp = project / ".venv" / ".installed-test"
    stamp.touch()
    os.utime(project / "pyproject.toml", (1_000_000, 1_000_000))
    os.utime(stamp, (2_000_000, 2_000_000))
    result = run(["bash", "-c", "source scripts/setup"], cwd=project)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not (project / "calls").exists()
    # A pyproject.toml changed since that install: the base install runs, as before.
    os.utime(project / "pyproject.toml", (3_000_000, 3_000_000))
    result = run(["bash", "-c", "source scripts/setup"], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "-m pip install --progress-bar off -e ." in (project / "calls").read_text().splitlines()
    assert (project / ".venv" / ".installed-base").exists()


def test_the_virtualenv_is_ignored_by_git():
    result = run(["git", "check-ignore", "-q", ".venv/"], cwd=PROJECT_ROOT)
    assert result.returncode == 0


def completion_executable(tmp_path):
    """A ``sonicpy`` on a PATH of its own that runs this checkout's CLI, as .venv/bin/sonicpy does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "sonicpy"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{PROJECT_ROOT / "worker.py"}" "$@"\n')
    script.chmod(0o755)
    return bin_dir


def test_shell_completion_as_the_readme_shows_it(tmp_path):
    bin_dir = completion_executable(tmp_path)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    source = run(["sonicpy"], env={**env, "_SONICPY_COMPLETE": "bash_source"})
    assert source.returncode == 0, source.stderr
    assert "complete -o nosort -F _sonicpy_completion sonicpy" in source.stdout
    (tmp_path / "complete.bash").write_text(source.stdout)
    # What bash does on `sonicpy d<TAB>` and `sonicpy d1 migrations <TAB>`.
    probe = (
        f"source {tmp_path / 'complete.bash'}\n"
        "COMP_WORDS=(sonicpy d); COMP_CWORD=1; _sonicpy_completion sonicpy; echo \"${COMPREPLY[*]}\"\n"
        "COMPREPLY=(); COMP_WORDS=(sonicpy d1 migrations ''); COMP_CWORD=3; _sonicpy_completion sonicpy; "
        "echo \"${COMPREPLY[*]}\"\n"
    )
    result = run(["bash", "-c", probe], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["d1 dev", "apply create list"]


def test_readme_documents_shell_completion():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "_SONICPY_COMPLETE=bash_source" in readme and "_SONICPY_COMPLETE=zsh_source" in readme
