"""Why did the model predict that? Attributions: backpropagation carried one step past the
weights, to the input, and its perturbation-based counterparts.

Captum's names, arguments and results (checked against Captum in the tests), on any
``nn.Module`` or callable from inputs ``(N, ...)`` to outputs ``(N, ...)``:

=========================  ===================================================================
``Saliency``               ``|d y_target / d x|`` (``abs=False``: the signed gradient)
``InputXGradient``         ``x * d y_target / d x``
``IntegratedGradients``    the gradient averaged from a baseline to ``x``, times ``x - baseline``;
                           attributions add up to ``f(x) - f(baseline)`` (completeness)
``NoiseTunnel``            SmoothGrad / SmoothGrad-squared / VarGrad around any method above
``GuidedBackprop``         the gradient with ReLUs passing back only positive gradients
``DeepLift``               the rescale rule: secant slopes instead of derivatives
``LayerGradCam``           a conv layer's activations weighted by their mean gradients
``FeatureAblation``        the output's drop when a feature is set to its baseline
``Occlusion``              the same for a window slid over the input
=========================  ===================================================================

Every method is ``Method(model).attribute(inputs, target=..., ...)`` and returns tensors
shaped like the inputs (a tuple for a tuple of inputs). ``dtype=cr.float64`` runs a float64
copy of the model, for checks. :func:`explain_prediction` puts them together for one input
of a classifier: top classes, attributions, completeness and a figure.

    >>> import chainrule as cr
    >>> from chainrule.explain.attribution import IntegratedGradients
    >>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))
    >>> x = cr.randn(2, 4)
    >>> attr, delta = IntegratedGradients(model).attribute(
    ...     x, target=2, n_steps=64, return_convergence_delta=True)
    >>> attr.shape
    (2, 4)
"""
from chainrule.explain.attribution.gradient import (
    INTEGRATION_METHODS, NOISE_TUNNEL_TYPES, InputXGradient, IntegratedGradients, NoiseTunnel,
    Saliency, approximation_parameters)
from chainrule.explain.attribution.layer import LayerAttribution, LayerGradCam
from chainrule.explain.attribution.perturbation import FeatureAblation, Occlusion
from chainrule.explain.attribution.prediction import (
    PredictionExplanation, explain_prediction)
from chainrule.explain.attribution.rules import DeepLift, GuidedBackprop

__all__ = ["Saliency", "InputXGradient", "IntegratedGradients", "NoiseTunnel",
           "GuidedBackprop", "DeepLift", "LayerGradCam", "LayerAttribution",
           "FeatureAblation", "Occlusion", "approximation_parameters", "INTEGRATION_METHODS",
           "NOISE_TUNNEL_TYPES", "explain_prediction", "PredictionExplanation"]
