"""The options of the plugin's tasks, architectures and criteria, with their types, defaults and help.

fairseq-train --help stops before it adds the options of --task, --arch and --criterion, so they
cannot be discovered there. This lists them from the dataclasses the plugin registers with fairseq,
turned into options the way fairseq-train turns them (an architecture's defaults applied):

    unimo-options                                   # the plugin's tasks, architectures and criteria
    unimo-options --task unimo_pretrain --arch unimo_base --criterion unimo_pretrain
"""
import argparse
import textwrap

from fairseq.criterions import CRITERION_DATACLASS_REGISTRY, CRITERION_REGISTRY
from fairseq.dataclass.utils import gen_parser_from_dataclass
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_NAME_REGISTRY, ARCH_MODEL_REGISTRY, MODEL_DATACLASS_REGISTRY
from fairseq.tasks import TASK_DATACLASS_REGISTRY, TASK_REGISTRY

from .runner import command_parser, run

PLUGIN = __package__.partition(".")[0]


def plugin_names(registry):
    """The names in a fairseq registry whose classes the plugin defines, sorted."""
    return sorted(name for name, cls in registry.items() if cls.__module__.startswith(PLUGIN + "."))


def get_parser():
    parser = command_parser("unimo-options", __doc__)
    parser.add_argument("--task", choices=plugin_names(TASK_REGISTRY), help="list this task's options")
    parser.add_argument("--arch", choices=plugin_names(ARCH_MODEL_REGISTRY),
                        help="list the options of this architecture's model, with its defaults")
    parser.add_argument("--criterion", choices=plugin_names(CRITERION_REGISTRY), help="list this criterion's options")
    return parser


def dataclass_options(dataclass, defaults=None):
    """The argparse actions fairseq makes of a registered dataclass (none for None), their defaults
    replaced by ``defaults`` where it has them."""
    parser = argparse.ArgumentParser(add_help=False)
    if dataclass is not None:
        gen_parser_from_dataclass(parser, dataclass())
    parser.set_defaults(**{a.dest: defaults[a.dest] for a in parser._actions if a.dest in (defaults or {})})
    return parser._actions


def arch_defaults(arch):
    """What an architecture function sets, as fairseq-train applies it: to the options not given."""
    args = argparse.Namespace()
    ARCH_CONFIG_REGISTRY[arch](args)
    return vars(args)


def describe(action):
    """``--name TYPE (default: ...)`` and the wrapped help of one option."""
    name = ", ".join(action.option_strings) or action.dest.upper()
    if isinstance(action, argparse._StoreTrueAction):
        kind = "flag"
    elif isinstance(action, argparse._StoreFalseAction):
        kind = "flag that sets False"  # fairseq's reading of a boolean field whose default is True
    elif action.choices is not None:
        kind = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        kind = getattr(action.type, "__name__", "str")
    default = "required" if action.required else f"default: {action.default!r}"
    text = textwrap.fill(action.help or "", width=100, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return f"  {name} {kind} ({default})\n{text}"


def print_options(title, actions):
    print(f"{title}:")
    print("\n".join(map(describe, actions)) if actions else "  (no options)")


def main(argv=None):
    args = get_parser().parse_args(argv)
    if not (args.task or args.arch or args.criterion):
        print(f"tasks: {', '.join(plugin_names(TASK_REGISTRY))}")
        print(f"archs: {', '.join(plugin_names(ARCH_MODEL_REGISTRY))}")
        print(f"criteria: {', '.join(plugin_names(CRITERION_REGISTRY))}")
        return
    if args.task:
        print_options(f"--task {args.task}", dataclass_options(TASK_DATACLASS_REGISTRY.get(args.task)))
    if args.arch:
        model = ARCH_MODEL_NAME_REGISTRY[args.arch]
        print_options(f"--arch {args.arch} (model {model})",
                      dataclass_options(MODEL_DATACLASS_REGISTRY.get(model), arch_defaults(args.arch)))
    if args.criterion:
        print_options(f"--criterion {args.criterion}",
                      dataclass_options(CRITERION_DATACLASS_REGISTRY.get(args.criterion)))


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
