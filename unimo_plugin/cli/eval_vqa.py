"""VQA accuracy of a ``unimo_vqa`` checkpoint, computed as the official VQA evaluation does, and
its predictions in the official results format (``[{"question_id": int, "answer": str}]``).

    unimo-eval-vqa CHECKPOINT --data DATA --split valid --results val_results.json

A split without annotations (test-dev, test) only gets the results file, for the evaluation server.
"""
from ..evaluation.labeled_predictions import load_finetuned
from ..evaluation.vqa import evaluate_split, write_results
from .labeled_args import add_evaluation_args
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-eval-vqa", __doc__)
    add_evaluation_args(parser)
    parser.add_argument("--results", help="write the predictions here, in the official results format")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        model, task = load_finetuned(args.checkpoint, args.data, args.region_store, args.cpu)
        answers, records, accuracy = evaluate_split(model, task, args.split, args.batch_size, not args.no_progress)
        if args.results:
            write_results(args.results, answers, records)
    if args.results:
        print(f"wrote {len(answers)} answers to {args.results}")
    if accuracy is None:
        print(f"{args.split} has no annotations: no accuracy")
        return None
    overall, per_type = accuracy
    print(f"VQA accuracy on {task.data_dir}/{args.split}: {overall:.2f} ({len(records)} questions)")
    for answer_type, type_accuracy in per_type.items():
        print(f"  {answer_type}: {type_accuracy:.2f}")
    return overall


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
