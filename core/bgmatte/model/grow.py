"""Start a generator from another one's weights, growing what the new config adds.

Equal tensors are copied. A convolution whose input grew (the alpha head's stages when
``alpha_skips`` is switched on) keeps its old weights on the old inputs and gets zeros on the
new ones, so the grown network computes exactly what the source did and training starts from
the source's quality instead of from scratch. Anything else that differs is an error.
"""
from __future__ import annotations

import torch
from torch import nn


def grow_from(model: nn.Module, source: dict[str, torch.Tensor]) -> list[str]:
    """Load ``source`` (a state dict) into ``model`` in place, growing convolution inputs with zeros.

    Returns:
        The names of the tensors that were grown.

    Raises:
        ValueError: a tensor of ``model`` has no counterpart in ``source``, or a shape differs in a
            way other than more input channels (dimension 1) of a 4-D weight.
    """
    target = model.state_dict()
    missing = sorted(set(target) - set(source))
    extra = sorted(set(source) - set(target))
    if missing or extra:
        raise ValueError(f"the weights do not fit this network: missing {missing[:4]}, unexpected {extra[:4]}")
    grown = []
    with torch.no_grad():
        for name, tensor in target.items():
            old = source[name]
            if old.shape == tensor.shape:
                tensor.copy_(old)
            elif old.dim() == 4 and old.shape[0] == tensor.shape[0] and old.shape[2:] == tensor.shape[2:] \
                    and old.shape[1] < tensor.shape[1]:
                tensor.zero_()
                tensor[:, :old.shape[1]].copy_(old)
                grown.append(name)
            else:
                raise ValueError(f"{name}: cannot grow {tuple(old.shape)} into {tuple(tensor.shape)}")
    return grown
