"""The API and the admin pages parse, authorize, call a service and render: they never query
the models, nor reach the database, themselves."""

import ast

from tests.fixtures.app import PROJECT_ROOT

LAYERS = (PROJECT_ROOT / "app" / "api", PROJECT_ROOT / "app" / "admin")
DATABASE = "app.db"


def runtime_imports(path):
    """What the module at ``path`` imports at run time (see ``imports_of``)."""
    module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return imports_of(path.read_text(), module)


def imports_of(source, module):
    """What ``source``, the text of ``module``, imports, as absolute dotted names (``from a
    import b`` is ``a.b``; ``from ..db import models`` in ``app.api.users`` is
    ``app.db.models``), leaving out those under ``if TYPE_CHECKING:`` (types only)."""
    package = module.split(".")[:-1]  # a package's __init__ is in the package, as a module is
    found, stack = [], [ast.parse(source)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # each name qualified: ``from app import db`` is app.db
            base = package[:len(package) - node.level + 1] if node.level else []
            origin = ".".join([*base, *([node.module] if node.module else [])])
            found += [f"{origin}.{alias.name}" for alias in node.names]
        stack.extend(ast.iter_child_nodes(node))
    return found


def reaches_the_database(name):
    """Whether the dotted ``name`` is ``app.db`` or inside it (not ``app.db_x``)."""
    return name == DATABASE or name.startswith(DATABASE + ".")


def test_no_api_or_admin_module_imports_the_database_but_for_types():
    reaching = {
        str(path.relative_to(PROJECT_ROOT)): [name for name in runtime_imports(path) if reaches_the_database(name)]
        for layer in LAYERS for path in sorted(layer.rglob("*.py"))
    }
    assert {name: modules for name, modules in reaching.items() if modules} == {}


def test_the_database_is_told_from_names_that_only_begin_like_it():
    source = "from ..db import models\nfrom . import errors\nfrom app import db_x, db\nimport app.dbx\n"
    names = imports_of(source, "app.api.users")
    assert sorted(names) == ["app.api.errors", "app.db", "app.db.models", "app.db_x", "app.dbx"]
    assert sorted(name for name in names if reaches_the_database(name)) == ["app.db", "app.db.models"]
    assert imports_of("from .. import db", "app.api.__init__") == ["app.db"]


def test_no_api_module_imports_the_admin():
    """A route outside the admin that answers a page (a mailed sign-in link's) is handed the
    app's one ``PublicPages``: the API builds no admin object of its own."""
    api = PROJECT_ROOT / "app" / "api"
    reaching = {
        str(path.relative_to(PROJECT_ROOT)): [name for name in runtime_imports(path) if name.startswith("app.admin")]
        for path in sorted(api.rglob("*.py"))
    }
    assert {name: modules for name, modules in reaching.items() if modules} == {}
