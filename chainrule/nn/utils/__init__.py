"""Training utilities: gradient clipping, weight penalties, parameter <-> vector, pruning
(``cr.nn.utils.prune``, as ``torch.nn.utils.prune``) and transfer-learning helpers."""
from chainrule.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from chainrule.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from chainrule.nn.utils.penalties import l1_penalty, l2_penalty
from chainrule.nn.utils import prune
from chainrule.nn.utils.transfer import TransferReport, freeze, load_matching

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters",
           "l1_penalty", "l2_penalty", "prune", "TransferReport", "freeze",
           "load_matching"]
