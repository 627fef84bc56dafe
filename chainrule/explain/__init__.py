"""Explanations: backpropagation shown step by step, graphs, gradient flow, costs.

* :func:`trace` -- one (or N) training steps of a small MLP on your numbers, every value and
  gradient checked against autograd; plain text, Markdown with LaTeX, or structured steps.
* :mod:`presets` -- the classic 2-3-1 worked example (``presets.example_231()``).
* :func:`graph` / :func:`render_graph` -- the autograd graph as DOT/Mermaid text, or an image.
* :func:`gradient_flow`, :func:`diagnose`, :class:`GradientFlowCallback` -- gradient norms,
  update ratios, and a verdict on vanishing/exploding gradients.
* :func:`summary` -- parameters, multiply-adds and activation memory per layer.
* :mod:`attribution` -- why a model predicted what it did: Captum's attribution methods
  (saliency, integrated gradients, DeepLift, Grad-CAM, occlusion ...).
* :func:`layers` -- each layer's activations and gradients for an input, dead and saturated
  units, conv feature maps drawn as image grids.

The command-line front ends (``chainrule explain``, ``chainrule summary``) live in
:mod:`chainrule.cli.explain` and :mod:`chainrule.cli.summary`.

    >>> import chainrule as cr
    >>> text = cr.explain.presets.example_231().trace()
"""
from chainrule.explain import presets
from chainrule.explain.diagnose import (
    DiagnosisReport, GradientFlow, GradientFlowCallback, diagnose, gradient_flow,
    weights_snapshot)
from chainrule.explain import attribution
from chainrule.explain.graph import GraphvizNotFoundError, graph, render_graph
from chainrule.explain.layers import LayerView, LayerViews, layers
from chainrule.explain.summary import LayerSummary, ModelSummary, summary, summary_from_shapes
from chainrule.explain.trace import Trace, TraceMismatchError, TraceStep, trace

__all__ = ["trace", "Trace", "TraceStep", "TraceMismatchError", "presets", "graph",
           "render_graph", "GraphvizNotFoundError", "gradient_flow", "diagnose",
           "weights_snapshot", "GradientFlow", "DiagnosisReport", "GradientFlowCallback",
           "summary", "summary_from_shapes", "ModelSummary", "LayerSummary", "attribution",
           "layers", "LayerViews", "LayerView"]
