"""The small networks ``chainrule explain`` and ``chainrule summary`` read from options or
a spec file.

A network comes from a JSON or YAML file (``--file net.json``) or options (``--layers 2,3,1
--activations sigmoid,sigmoid --weights ... --input 0.1,0.2 --target 1``); options given
alongside a file override it. The file holds the same keys as the options::

    {"layers": [2, 3, 1], "activations": ["sigmoid", "sigmoid"],
     "weights": [[[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]], [[0.1, 0.2, 0.3]]],
     "biases": [[0.1, 0.2, 0.3], [0.2]],
     "input": [0.1, 0.2], "target": [1], "loss": "mse", "lr": 0.1, "steps": 1}

``weights[l]`` has PyTorch's Linear layout (out, in); biases left out are zero when weights
are given. Without weights, ``seed`` (default 0) seeds chainrule's default initialisation.
"""
from __future__ import annotations

import json
import os
from typing import Any

from chainrule.cli.errors import UserError
from chainrule.cli.inputs import parse_json, read_text_file, reading
from chainrule.explain.presets import build_network
from chainrule.random import manual_seed

__all__ = ["numbers", "int_list", "name_list", "load_spec", "merged_spec", "network_from_spec"]


def numbers(text: str, what: str) -> Any:
    """JSON (``[[0.1, 0.2], [0.3, 0.4]]``, ``2``) or comma-separated numbers (``0.1,0.2``)."""
    if isinstance(text, (int, float, list)):
        return text
    text = str(text).strip()
    try:
        return parse_json(text, what)
    except json.JSONDecodeError:
        pass
    try:
        return [parse_json(p, what) for p in text.split(",")]
    except json.JSONDecodeError:
        raise UserError(f"{what}: expected numbers like 0.1,0.2 or JSON like [[0.1, 0.2]], "
                        f"got {text!r}") from None


def int_list(text, what: str) -> list[int]:
    """Whole numbers from ``2,3,1`` or JSON ``[2, 3, 1]``."""
    try:
        values = text if isinstance(text, list) else numbers(text, what)
    except UserError:
        values = None
    values = values if isinstance(values, list) or values is None else [values]
    if not values or any(not isinstance(v, int) or isinstance(v, bool) for v in values):
        raise UserError(f"{what}: expected whole numbers like 2,3,1, got {text!r}")
    return values


def name_list(text, what: str) -> list[str]:
    """Lower-case names from ``sigmoid,tanh`` or a list."""
    if isinstance(text, list):
        return [str(t).strip().lower() for t in text]
    return [t.strip().lower() for t in str(text).split(",") if t.strip()]


def load_spec(path: str) -> dict:
    """Read a network spec from a ``.json`` or ``.yaml``/``.yml`` file (YAML needs PyYAML)."""
    if not os.path.exists(path):
        raise UserError(f"--file: no such file: {path}")
    text = read_text_file(path, "--file")
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise UserError("--file: reading YAML needs PyYAML: pip install pyyaml (or pip "
                            "install chainrule[yaml]); or write the spec as JSON") from None
        try:
            with reading(path, "--file"):
                spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise UserError(f"--file: {path} is not valid YAML: {e}") from None
    else:
        try:
            spec = parse_json(text, f"--file {path!r}")
        except json.JSONDecodeError as e:
            raise UserError(f"--file: {path} is not valid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise UserError(f"--file: {path} must hold a mapping (keys layers, activations, "
                        f"weights, input, target, ...), got {type(spec).__name__}")
    known = {"layers", "activations", "weights", "biases", "input", "target", "loss", "lr",
             "steps", "seed", "bias", "input_shape", "batch_size"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise UserError(f"--file: unknown keys {unknown} in {path}; known keys: "
                        f"{sorted(known)}")
    return spec


def _weights_option(text: str) -> dict:
    """--weights: JSON (or a JSON file) with a list of matrices, or {"weights", "biases"}."""
    if os.path.exists(text):
        text = read_text_file(text, "--weights")
    try:
        value = parse_json(text, "--weights")
    except json.JSONDecodeError as e:
        raise UserError(f"--weights: not valid JSON ({e}); give a list of weight matrices, "
                        f"one per layer in (out, in) layout, or an object with keys "
                        f"\"weights\" and \"biases\"") from None
    if isinstance(value, dict):
        extra = set(value) - {"weights", "biases"}
        if extra:
            raise UserError(f"--weights: unknown keys {sorted(extra)}; use weights and biases")
        return value
    return {"weights": value}


def merged_spec(args) -> dict:
    """The spec of ``--file`` (if given) with the options given alongside it on top."""
    spec: dict = {}
    if getattr(args, "file", None):
        spec.update(load_spec(args.file))
    for key in ("layers", "activations", "input", "target", "loss", "lr", "steps", "seed"):
        value = getattr(args, key, None)
        if value is not None:
            spec[key] = value
    if getattr(args, "weights", None):
        spec.update(_weights_option(args.weights))
    return spec


def network_from_spec(spec: dict, default_hidden: str = "sigmoid",
                      default_output: str = "sigmoid", placeholders: bool = False):
    """The ``Sequential`` a merged spec describes (see :func:`merged_spec`); with
    ``placeholders`` its weights take no memory (for counting, see ``build_network``)."""
    if "layers" not in spec:
        raise UserError("give the network: --example 2-3-1, --file spec.json, or --layers "
                        "2,3,1 (with --activations, --weights or --seed)")
    sizes = int_list(spec["layers"], "--layers")
    if len(sizes) < 2:
        raise UserError(f"--layers: need at least the input and output sizes, got {sizes}")
    n = len(sizes) - 1
    acts = (name_list(spec["activations"], "--activations") if "activations" in spec
            else [default_hidden] * (n - 1) + [default_output])
    seed = int(spec.get("seed", 0) if spec.get("seed") is not None else 0)
    manual_seed(seed)
    weights, biases = spec.get("weights"), spec.get("biases")
    if weights is not None and biases is None:
        biases = [[0.0] * s for s in sizes[1:]]      # given weights, unstated biases: zero
    try:
        return build_network(sizes, acts, weights=weights, biases=biases,
                             bias=bool(spec.get("bias", True)), placeholders=placeholders)
    except ValueError as e:
        raise UserError(str(e)) from None
