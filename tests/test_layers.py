"""The API layer parses, authorizes, calls a service and renders: it never queries the models itself."""

import ast

from tests.fixtures.app import PROJECT_ROOT

API = PROJECT_ROOT / "app" / "api"


def runtime_imports(path):
    """Modules ``path`` imports, leaving out those under ``if TYPE_CHECKING:`` (types only)."""
    found, stack = [], [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(node.module or "")
        stack.extend(ast.iter_child_nodes(node))
    return found


def test_no_api_module_imports_the_models_but_for_types():
    reaching = {
        path.name: [name for name in runtime_imports(path) if name.startswith("app.db")]
        for path in sorted(API.glob("*.py"))
    }
    assert {name: modules for name, modules in reaching.items() if modules} == {}
