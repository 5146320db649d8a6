"""The house's layers, read from the code: core/ knows nothing of the wire or of methods; generators know no method;
the engine knows no method; nothing outside the method folders names a method's modules by hand."""

import ast
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[2] / "backend"


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(BACKEND.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(
    "folder, forbidden",
    [
        ("core", ("protocol", "backend.methods", "backend.server", "backend.engine", "backend.generators")),
        ("engine", ("backend.methods", "backend.server", "backend.generators", "backend.cli")),
        ("generators", ("backend.methods", "backend.server", "backend.cli")),
        ("teachers", ("backend.methods", "backend.server", "backend.cli")),
    ],
)
def test_a_layer_imports_nothing_above_it(folder, forbidden):
    offenders = {
        str(path.relative_to(BACKEND)): sorted(m for m in imported_modules(path) if m.startswith(forbidden))
        for path in (BACKEND / folder).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_module_outside_a_method_folder_imports_a_methods_own_modules():
    method_folders = {p.parent.name for p in (BACKEND / "methods").glob("*/spec.py")}
    offenders = {}
    for path in BACKEND.rglob("*.py"):
        inside = path.relative_to(BACKEND).parts
        own = inside[1] if inside[0] == "methods" and len(inside) > 2 and inside[1] in method_folders else None
        named = sorted(m for m in imported_modules(path) if any(m.startswith(f"backend.methods.{f}") for f in method_folders - {own}))
        if named:
            offenders[str(path.relative_to(BACKEND))] = named
    assert not offenders, "the registry, the CLI, the server and other methods reach a method through its spec only"


def test_no_pickle_is_written_or_read_in_the_backend():
    for path in BACKEND.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "torch.save(" not in text and "import pickle" not in text, path
