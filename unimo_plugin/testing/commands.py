"""Running the commands as a user would, from tests: the checkout's paths and fairseq's console scripts."""
import os
import subprocess
import sys

# The checkout this copy of the plugin is imported from: data_scripts/, setup.py and the user dir.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(args, cwd=None, timeout=600):
    """Run a CLI as a user would; fail with its output when it fails."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(args, cwd=cwd or REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def fairseq_bin(name):
    """A console script of the interpreter's environment (``fairseq-train``), whatever PATH says."""
    return os.path.join(os.path.dirname(sys.executable), name)
