"""Modules import only modules above them in the module map (STYLE.md §1); tools import only the package."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lower index = lower layer. A module may import only modules with a smaller index.
ORDER = ["errors", "assets", "mood_names", "config", "runtime", "progress", "memory", "color", "metadata", "images", "image_writer", "degrade", "models",
         "losses", "data", "loaders", "feature_metrics", "metrics", "mood", "hint", "points", "hint_file", "checkpoint", "visual",
         "validation", "onnx_backend", "inference", "folder", "video", "video_metrics", "app", "control_scores", "evaluate", "training_setup", "train", "adversarial", "cli"]


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "gan_colorizer" or len(parts) < 2:
        return None
    return ORDER.index(parts[1]) if parts[1] in ORDER else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_module_has_a_layer():
    """A new module must take its place in ORDER (and docs/architecture.md), or it escapes the check."""
    unplaced = [path.relative_to(ROOT).as_posix() for path in (ROOT / "gan_colorizer").rglob("*.py")
                if path.name != "__init__.py" or path.parent != ROOT / "gan_colorizer"
                if _layer(".".join(path.relative_to(ROOT).with_suffix("").parts)) is None]
    assert not unplaced, unplaced


def test_no_upward_imports():
    problems = []
    for path in sorted((ROOT / "gan_colorizer").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = _layer(module)
        if own is None:
            continue
        for imported in _imports(path):
            other = _layer(imported)
            if other is not None and other > own:
                problems.append(f"{module} imports {imported}")
    assert not problems, problems


def test_models_import_only_torch_their_package_and_errors():
    for path in (ROOT / "gan_colorizer" / "models").glob("*.py"):
        for imported in _imports(path):
            if imported.startswith("gan_colorizer"):
                assert imported.startswith(("gan_colorizer.models", "gan_colorizer.errors")), f"{path.name} imports {imported}"


def test_nothing_imports_tools():
    for path in (ROOT / "gan_colorizer").rglob("*.py"):
        assert not any(i.startswith("tools") for i in _imports(path)), path
