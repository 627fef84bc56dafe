"""``chainrule sample RUN``: continue a prompt with text drawn, one character at a time,
from a character-level lstm or transformer model.

    chainrule train --data shakespeare --model lstm --out runs/shakespeare
    chainrule train --data shakespeare --model transformer --out runs/shakespeare-gpt
    chainrule sample runs/shakespeare --prompt "ROMEO:" --length 300 --temperature 0.8
"""
from __future__ import annotations

import argparse

import chainrule as cr
from chainrule.cli.data import describe
from chainrule.cli.errors import UserError, check_number
from chainrule.cli.models import TEXT_MODELS, generate
from chainrule.cli.runs import load_run

NAME = "sample"
HELP = "generate text with a character-level lstm or transformer model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Continue a prompt with text sampled, one character at a time, from "
                          "an lstm or transformer model trained by 'chainrule train --data "
                          "shakespeare --model lstm' (or --model transformer).")
    parser.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    parser.add_argument("--prompt", default="\n", metavar="TEXT",
                        help="text to continue; every character must be in the model's "
                             "vocabulary (default: a newline)")
    parser.add_argument("--length", type=int, default=500, metavar="N",
                        help="characters to generate (default 500)")
    parser.add_argument("--temperature", type=float, default=0.8, metavar="T",
                        help="> 0; lower is safer and more repetitive, higher more surprising "
                             "(default 0.8)")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="random seed: the same seed gives the same text (default 0)")


# Every character drawn is kept until the text is printed: a bound on the memory it takes.
MAX_LENGTH = 1_000_000


def run(args: argparse.Namespace) -> int:
    check_number("--temperature", args.temperature, 0.0, low_open=True)
    if args.length < 1:
        raise UserError(f"--length must be >= 1, got {args.length}")
    if args.length > MAX_LENGTH:
        raise UserError(f"--length must be at most {MAX_LENGTH:,}, got {args.length}")
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    if not args.prompt:
        raise UserError("--prompt must hold at least one character (the default is a newline)")
    ckpt_path, ckpt, config, model, prep, names = load_run(args.checkpoint)
    kind = config["model"].get("kind")
    if kind not in TEXT_MODELS or prep.get("kind") != "text":
        raise UserError(f"{ckpt_path} holds the {kind} model of a run on "
                        f"{describe(config['data'])}; 'chainrule sample' needs a character-level "
                        f"lstm or transformer model (train one with: chainrule train --data "
                        f"shakespeare --model lstm)")
    vocab = prep["vocab"]
    unknown = sorted(set(args.prompt) - set(vocab))
    if unknown:
        raise UserError(f"--prompt has characters the model never saw: "
                        f"{', '.join(repr(c) for c in unknown)}; its vocabulary is "
                        f"{''.join(vocab)!r}")
    index = {c: i for i, c in enumerate(vocab)}
    cr.manual_seed(args.seed)
    ids = generate(model, [index[c] for c in args.prompt], args.length, args.temperature)
    print(args.prompt + "".join(vocab[i] for i in ids))
    return 0
