"""What every ``unimo-*`` command shares: its name, fairseq's logging, and bad input as one line.

Each command module has ``main(argv=None)``, which parses, runs and returns what callers (tests) use,
and ``cli_main()``, the console script, which sets up logging and runs ``main`` on ``sys.argv``.
Bad input (a malformed or missing file, a bad option value) ends a command with
``PROG: error: MESSAGE`` on stderr, the file and line in MESSAGE where known, and exit status 1;
argparse's usage errors keep their status 2. Everything else is a bug and keeps its traceback.

The two noises importing fairseq prints (torch's ``torch.jit.script`` FutureWarning and fairseq's
"Please install tensorboardX") are silenced where fairseq is first imported, in
``unimo_plugin/__init__.py``: Python runs that before any line of a command module.
"""
import argparse
import contextlib
import logging
import os

# Bad input as today's scripts reported it: InputError is a ValueError, a missing or unreadable file an OSError.
BAD_INPUT = (ValueError, OSError)


def command_parser(prog, description, **kwargs):
    """The parser of command ``prog`` (its console-script name, whichever way it was started), with the
    command module's docstring, examples included, as its description."""
    return argparse.ArgumentParser(prog=prog, description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


@contextlib.contextmanager
def bad_input_exits(parser, *errors):
    """Inside, bad input (``BAD_INPUT`` and this command's own ``errors``) exits with status 1 and
    ``PROG: error: MESSAGE`` on stderr."""
    try:
        yield
    except BAD_INPUT + errors as e:
        parser.exit(1, f"{parser.prog}: error: {e}\n")


def setup_logging():
    """fairseq's CLI logging (format, ``LOGLEVEL``), to stderr so that stdout holds only results.

    ``force``: importing fairseq already configured the root logger (at DEBUG, in its default format,
    so that e.g. PIL logged every PNG chunk).
    """
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", datefmt="%Y-%m-%d %H:%M:%S",
                        level=os.environ.get("LOGLEVEL", "INFO").upper(), force=True)


def run(main):
    """The body of a console script: ``main`` on ``sys.argv``. What ``main`` returns is for its Python
    callers, not an exit status."""
    setup_logging()
    main()
