"""The API and the admin pages parse, authorize, call a service and render: they never query
the models, nor reach the database, themselves."""

import ast

from tests.fixtures.app import PROJECT_ROOT

LAYERS = (PROJECT_ROOT / "app" / "api", PROJECT_ROOT / "app" / "admin")


def runtime_imports(path):
    """What ``path`` imports, as dotted names (``from a import b`` is ``a.b``), leaving out
    those under ``if TYPE_CHECKING:`` (types only)."""
    found, stack = [], [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # each name qualified: ``from app import db`` is app.db
            found += [f"{node.module or ''}.{alias.name}" for alias in node.names]
        stack.extend(ast.iter_child_nodes(node))
    return found


def test_no_api_or_admin_module_imports_the_database_but_for_types():
    reaching = {
        str(path.relative_to(PROJECT_ROOT)): [name for name in runtime_imports(path) if name.startswith("app.db")]
        for layer in LAYERS for path in sorted(layer.rglob("*.py"))
    }
    assert {name: modules for name, modules in reaching.items() if modules} == {}
