"""The installed face of the package: console scripts, --version, a --help that needs no torch, shipped files.

The wheel itself (built, installed in a fresh environment and run outside the checkout) is checked by
.ci/run, which can afford a build; these tests cover what a source checkout can show quickly.
"""
import configparser
import importlib
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import gan_colorizer
from gan_colorizer import assets

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("colorize", "pretrain", "train_gan", "evaluate", "export", "serve")


def console_scripts() -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=")) for line in lines)


def test_every_tool_is_a_console_script_with_one_prefix():
    assert console_scripts() == {f"gan-colorizer-{tool.replace('_', '-')}": f"gan_colorizer.cli.{tool}:main"
                                 for tool in TOOLS}


@pytest.mark.parametrize("tool", TOOLS)
def test_version_names_the_package_version(tool):
    result = CliRunner().invoke(importlib.import_module(f"gan_colorizer.cli.{tool}").main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip().endswith(gan_colorizer.__version__)


def test_help_of_every_tool_imports_no_torch():
    """--help must come back in well under a second on a laptop; importing torch alone takes seconds."""
    script = ("import sys\n"
              f"for tool in {TOOLS!r}:\n"
              "    module = __import__(f'gan_colorizer.cli.{tool}', fromlist=['main'])\n"
              "    try:\n"
              "        module.main(['--help'])\n"
              "    except SystemExit as stop:\n"
              "        assert stop.code == 0, tool\n"
              "print(sorted(m for m in ('torch', 'torchvision', 'lpips', 'cv2') if m in sys.modules))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.strip().splitlines()[-1] == "[]"
    assert "--in" in run.stdout and "--onnx" in run.stdout and "--version" in run.stdout


def test_tools_wrapper_runs_from_another_folder(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "colorize.py"), "--version"], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert gan_colorizer.__version__ in run.stdout


def test_help_values_match_the_modules_that_own_them():
    """The CLIs repeat a few values so that --help needs no torch; they must not drift from the package."""
    from gan_colorizer import evaluate, feature_metrics, folder, inference, mood
    from gan_colorizer.cli import colorize as colorize_cli
    from gan_colorizer.cli import evaluate as evaluate_cli

    assert colorize_cli.DEFAULT_RENDER_SIZE == inference.DEFAULT_RENDER_SIZE
    assert colorize_cli.OUTPUT_FORMATS == folder.OUTPUT_FORMATS
    assert colorize_cli.DEFAULT_MAX_PIXELS == folder.DEFAULT_MAX_PIXELS
    assert colorize_cli.DEFAULT_PROGRESS_INTERVAL == folder.DEFAULT_PROGRESS_INTERVAL
    assert list(mood.MOOD_DESCRIPTIONS) == mood.mood_names()  # every mood described, in --help's order
    assert evaluate_cli.SPLITS == evaluate.SPLITS
    assert list(evaluate_cli.LPIPS_NETS) == list(feature_metrics.LPIPS_NETS)


def test_serve_help_value_matches_the_app():
    service = pytest.importorskip("gan_colorizer.app.service", reason="the web app (gan_colorizer.app) is not here")
    from gan_colorizer.cli import serve as serve_cli

    assert serve_cli.DEFAULT_MAX_UPLOAD_MB == service.DEFAULT_MAX_UPLOAD_MB


def test_shipped_files_are_found():
    from gan_colorizer import inference

    assert (assets.asset_path("configs") / "pretrain.yaml").is_file()
    assert inference.DEFAULT_CHECKPOINT == assets.asset_path("checkpoints/default.pt")
    assert inference.DEFAULT_CHECKPOINT.is_file()


def test_packaged_copy_wins_over_the_checkout(tmp_path, monkeypatch):
    """An installed package holds its files inside itself; a checkout's top-level copies are the fallback."""
    packaged = tmp_path / "gan_colorizer"
    (packaged / "configs").mkdir(parents=True)
    monkeypatch.setattr(assets.resources, "files", lambda package: packaged)
    assert assets.asset_path("configs") == packaged / "configs"
    assert assets.asset_path("checkpoints/default.pt") == ROOT / "checkpoints" / "default.pt"


def _requirement_names(lines: str) -> set[str]:
    """'torch>=2.1  # why' lines -> {'torch'}, lower-cased as pip compares them."""
    names = set()
    for line in lines.splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[<>=!~\[; ]", line)[0].lower())
    return names


def test_a_colorizing_install_leaves_the_training_stack_to_the_train_extra():
    """install_requires is what colorizing needs; [train] holds what cli.TRAIN_MODULES import, and a checkout's
    requirements.txt still installs everything (so its tests run in full)."""
    from gan_colorizer import cli

    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    lean = _requirement_names(parser["options"]["install_requires"])
    extras = {name: _requirement_names(parser["options.extras_require"][name]) for name in ("train", "onnx", "video")}
    owners = importlib.metadata.packages_distributions()
    assert extras["train"] == {owners[module][0].lower() for module in cli.TRAIN_MODULES}
    assert not lean & extras["train"]
    everything = lean | extras["train"] | extras["onnx"] | extras["video"] | {"pytest"}
    assert _requirement_names((ROOT / "requirements.txt").read_text()) == everything


def test_colorizing_runs_without_the_training_stack():
    """The CLI, the API, the web app and ONNX export import none of the [train] extra's modules, and
    colorizing a photo with the bundled model needs none of them either (they are made unimportable)."""
    from gan_colorizer import cli

    script = ("import sys\n"
              f"for name in {cli.TRAIN_MODULES!r}:\n"
              "    sys.modules[name] = None  # import fails as if not installed\n"
              "import numpy as np\n"
              "from gan_colorizer import folder, inference, onnx_backend\n"
              "from gan_colorizer.app import server, service\n"
              "from gan_colorizer.cli import colorize, export, serve\n"
              "rgb = inference.Colorizer.from_checkpoint()(np.linspace(0, 1, 48 * 40, dtype=np.float32).reshape(40, 48))\n"
              "print(rgb.shape)\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(40, 48, 3)"


@pytest.mark.parametrize("tool, args", [("pretrain", ["--data", "photos.zip", "--out", "run"]),
                                        ("train_gan", ["--data", "photos.zip", "--out", "run"]),
                                        ("evaluate", ["--pred", "a", "--gt", "b"])])
def test_training_and_evaluation_without_the_train_extra_say_what_to_install(tool, args, monkeypatch):
    """One line naming the extra, before any work (the paths given do not even exist)."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "lpips" else real_find_spec(name, *rest))
    result = CliRunner().invoke(importlib.import_module(f"gan_colorizer.cli.{tool}").main, args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output == ("Error: " + tool.replace("_", "-") + " needs the [train] extra (lpips not installed): "
                             "pip install 'gan_colorizer[train]'\n")
