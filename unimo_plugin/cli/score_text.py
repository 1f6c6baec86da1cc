"""Score generated text (summaries, questions) with ROUGE-1/2/L F1 (rouge-score, Porter stemming) and
sacreBLEU corpus BLEU, against one reference per sample.

GEN_OUTPUT is what fairseq-generate printed (``fairseq-generate ... > gen.txt``) or its --results-path
folder; the best hypothesis (first ``D-`` line) of sample id i is scored against line i of --references,
the raw ``.target`` file of the generated split (the ``.source/.target`` layout of CNN/DailyMail,
Gigaword, SQuAD question generation and CoQA). ``<n>`` sentence markers are removed before scoring;
--rouge-lsum adds the summary-level ROUGE-Lsum over sentences split at them (or at ., ! and ?).

Values are printed ×100 (UNIMO-base: CNN/DailyMail ROUGE-L 39.61, Gigaword ROUGE-L 36.27).

  unimo-score-text gen.txt --references raw/cnn_dm/test.target --rouge-lsum --json scores.json
"""
import os

from ..evaluation.generate_output import generate_output_file, hypotheses_in_order, read_hypotheses
from ..evaluation.score_report import print_scores, write_scores_json
from ..evaluation.text_metrics import read_references, score_text
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-score-text", __doc__)
    parser.add_argument("generate_output", metavar="GEN_OUTPUT",
                        help="fairseq-generate's printed output, or its --results-path folder")
    parser.add_argument("--references", required=True, metavar="FILE",
                        help="one reference per line, line i for sample id i (e.g. raw/test.target)")
    parser.add_argument("--rouge-lsum", action="store_true",
                        help="also report ROUGE-Lsum (summary-level LCS over sentences), as CNN/DailyMail "
                             "results do")
    parser.add_argument("--json", metavar="FILE", help="also write the scores here (atomically)")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        references = read_references(args.references)
        source = generate_output_file(args.generate_output)
        hypotheses = hypotheses_in_order(read_hypotheses(source), len(references), source,
                                         what=f"references of {args.references}")
        scores, signature = score_text(hypotheses, references, rouge_lsum=args.rouge_lsum)
    print_scores(f"{source} against {args.references}: {len(hypotheses)} samples", scores)
    print(f"sacreBLEU signature: {signature}")
    if args.json:
        write_scores_json(args.json, {"hypotheses": source, "references": os.path.abspath(args.references),
                                      "samples": len(hypotheses), "scores": scores,
                                      "sacrebleu_signature": signature})
    return scores


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
