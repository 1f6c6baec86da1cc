"""The commands as installed: every console script of setup.py resolves to a command whose parser bears
its name and whose --help exits 0; the shared runner turns bad input into one line and status 1; a
command's process prints none of the noise of importing fairseq, but its own warnings; unimo-options
lists the registered options."""
import ast
import importlib
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from unimo_plugin.cli import options
from unimo_plugin.cli.runner import bad_input_exits, command_parser
from unimo_plugin.common.artifacts import InputError
from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterionConfig
from unimo_plugin.models.unimo import UnimoConfig
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig
from unimo_plugin.testing.commands import REPO_ROOT

NOISE = ("torch.jit.script", "tensorboardX")


def console_scripts():
    """setup.py's console scripts as {name: (module, function)}, read from its source."""
    with open(os.path.join(REPO_ROOT, "setup.py")) as f:
        call = next(node for node in ast.walk(ast.parse(f.read()))
                    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup")
    entry_points = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "entry_points"))
    scripts = {}
    for line in entry_points["console_scripts"]:
        name, target = (part.strip() for part in line.split("="))
        scripts[name] = tuple(target.split(":"))
    return scripts


SCRIPTS = console_scripts()


def test_every_command_module_is_a_console_script():
    commands = {f"unimo_plugin.cli.{path.stem}" for path in (Path(REPO_ROOT) / "unimo_plugin" / "cli").glob("*.py")
                if "def cli_main()" in path.read_text()}
    assert commands == {module for module, _ in SCRIPTS.values()}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_script_resolves_and_its_help_exits_0(name, capsys):
    module_name, function = SCRIPTS[name]
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function))
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {name} ")  # one name, however the command is started


def test_bad_input_is_one_line_with_file_and_line_and_status_1(capsys):
    parser = command_parser("unimo-test", "a command")
    for error, message in [(InputError("in.tsv", "no image id", line=3), "in.tsv:3: no image id"),
                           (FileNotFoundError(2, "No such file or directory", "gone.txt"), "gone.txt")]:
        with pytest.raises(SystemExit) as exit_info, bad_input_exits(parser):
            raise error
        assert exit_info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("unimo-test: error: ") and message in err and err.count("\n") == 1
    with pytest.raises(SystemExit), bad_input_exits(parser, KeyError):  # bad input for this command only
        raise KeyError("image 7")
    with pytest.raises(KeyError), bad_input_exits(parser):  # anything else is a bug: its traceback is kept
        raise KeyError("image 7")


def run_python(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # the command runs as a subprocess
def test_a_command_prints_its_error_and_nothing_of_importing_fairseq(tmp_path):
    missing = tmp_path / "missing.txt"
    proc = run_python("data_scripts/train_bpe.py", "--input", str(missing), "--output-dir", str(tmp_path / "bpe"))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"unimo-train-bpe: error: [Errno 2] No such file or directory: '{missing}'"]


@pytest.mark.slow  # the command runs as a subprocess
def test_the_commands_own_warnings_and_logs_still_show(tmp_path):
    """The same command, its work replaced by one that warns, logs a warning and then fails."""
    program = f"""
import logging, sys, warnings
from unimo_plugin.cli import train_bpe
from unimo_plugin.common.artifacts import InputError

def train(*args, **kwargs):
    warnings.warn("a warning of the command itself", FutureWarning)
    logging.getLogger("unimo_plugin.test").warning("a logged warning")
    raise InputError("corpus.txt", "not valid UTF-8", line=2)

train_bpe.train_bpe = train
sys.argv = ["unimo-train-bpe", "--input", "corpus.txt", "--output-dir", {str(tmp_path / "bpe")!r}]
train_bpe.cli_main()
"""
    proc = run_python("-c", program)
    assert proc.returncode == 1
    assert "FutureWarning: a warning of the command itself" in proc.stderr
    assert " | WARNING | unimo_plugin.test | a logged warning" in proc.stderr  # fairseq's log format
    assert proc.stderr.endswith("unimo-train-bpe: error: corpus.txt:2: not valid UTF-8\n")
    assert not any(noise in proc.stderr for noise in NOISE), proc.stderr


def test_options_lists_the_plugins_names_without_arguments(capsys):
    options.main([])
    printed = capsys.readouterr().out.splitlines()
    assert "unimo_pretrain" in printed[0] and "unimo_base" in printed[1] and "unimo_soft_bce" in printed[2]
    assert "translation" not in printed[0]  # fairseq's own tasks are not the plugin's


def help_of(dataclass, name):
    return " ".join(next(f for f in fields(dataclass) if f.name == name).metadata["help"].split())


def test_options_of_a_task_an_arch_and_a_criterion(capsys):
    options.main(["--task", "unimo_pretrain", "--arch", "unimo_large", "--criterion", "unimo_pretrain"])
    printed = " ".join(capsys.readouterr().out.split())  # help is wrapped
    for option, dataclass, field in [("--modality-ratios str (default: 'by-size')", UnimoPretrainConfig,
                                      "modality_ratios"),
                                     ("--encoder-layers int (default: 24)", UnimoConfig, "encoder_layers"),
                                     ("--cmcl-weight float (default: 10.0)", UnimoPretrainCriterionConfig,
                                      "cmcl_weight")]:
        assert f"{option} {help_of(dataclass, field)}" in printed, option
    assert "--cmcl flag that sets False (default: True)" in printed  # how fairseq reads a True boolean
    options.main(["--criterion", "unimo_soft_bce"])
    assert capsys.readouterr().out == "--criterion unimo_soft_bce:\n  (no options)\n"


def test_options_refuses_an_unknown_name_listing_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        options.main(["--arch", "unimo_huge"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "invalid choice: 'unimo_huge'" in err and all(arch in err for arch in ("unimo_base", "unimo_tiny"))
