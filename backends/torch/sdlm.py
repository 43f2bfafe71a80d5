"""SDLM for the torch backend: the second-derivative pass and the eager session that uses it.

`hessian_diag` back-propagates d2E/da^2 through the network (the recursion of
harness/sdlm.py: squared derivatives of the nonlinearity, squared weights; each
weight sums squared inputs times its units' d2E/da^2) with torch's convolution
adjoints on squared operands (torch.nn.grad.conv2d_input; the weights' sums as products over
unfolded patches).
`SdlmEagerSession` is the eager session with one change: each gradient is
multiplied by the step scale 1 / (mu + h) the core hands over before
torch.optim.SGD's step (lr = the step's eps), so theta -= eps * scale * grad.
Imported only when the SDLM variant is asked for.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness.reference import derivative
from harness.spec import H2_INPUTS, PARAM_NAMES

from .eager import EagerSession
from .network import activation


def _derivative(name: str, a, y):
    """f'(a) from the input a and output y = f(a): harness.reference's formula on tensors."""
    return derivative(name, a, y, lambda t: (t > 0).to(t.dtype), torch.ones_like)


def _act(name: str):
    return activation(torch, name)


def _h2_dense(H2w):
    """(12, 8, 5, 5) -> (12, 12, 5, 5), zeros where an H2 plane does not see an H1 plane."""
    dense = H2w.new_zeros((12, 12, 5, 5))
    for o, ins in enumerate(H2_INPUTS):
        dense[o, list(ins)] = H2w[o]
    return dense


def _weight_sum(u, d):
    """sum over examples and positions of squared patches x d2E/da^2: (out, in * 25).

    A matrix product over unfolded patches rather than torch.nn.grad.conv2d_weight, whose
    float32 sum over 500 examples x positions drifted 1e-5 (relative) from float64 (this: ~4e-7).
    """
    patches = F.unfold(u, 5, stride=2) ** 2  # (B, in * 25, positions)
    return torch.einsum("bop,bkp->ok", d.flatten(2), patches)


@torch.no_grad()
def hessian_diag(p: dict, variant, x) -> dict:
    """h per parameter, canonical layout, averaged over the batch x (B, 1, 16, 16)."""
    act, fa = _act(variant.hidden_activation), variant.hidden_activation
    b = x.shape[0]
    u1 = F.pad(x, (2, 2, 2, 2), "constant", -1.0)  # (B, 1, 20, 20)
    a1 = F.conv2d(u1, p["H1w"], stride=2) + p["H1b"]
    y1 = act(a1)  # (B, 12, 8, 8)
    u2 = F.pad(y1, (2, 2, 2, 2), "constant", -1.0)  # (B, 12, 12, 12)
    w2 = _h2_dense(p["H2w"])
    a2 = F.conv2d(u2, w2, stride=2) + p["H2b"]
    y2 = act(a2).flatten(1)  # (B, 192)
    a3 = y2 @ p["H3w"] + p["H3b"]
    y3 = act(a3)  # (B, 30)
    a4 = y3 @ p["outw"] + p["outb"]
    out = _act(variant.output_activation)(a4)  # (B, 10)
    h = {}
    d4 = variant.optimizer.output_curvature * _derivative(variant.output_activation, a4, out) ** 2
    h["outw"], h["outb"] = (y3 ** 2).T @ d4, d4.sum(0)
    d3 = _derivative(fa, a3, y3) ** 2 * (d4 @ (p["outw"] ** 2).T)  # (B, 30)
    h["H3w"], h["H3b"] = (y2 ** 2).T @ d3, d3.sum(0)
    d2 = _derivative(fa, a2, y2.view_as(a2)) ** 2 * (d3 @ (p["H3w"] ** 2).T).view_as(a2)  # (B, 12, 4, 4)
    dense = _weight_sum(u2, d2).reshape(12, 12, 5, 5)
    h["H2w"] = torch.stack([dense[o, list(ins)] for o, ins in enumerate(H2_INPUTS)])
    h["H2b"] = d2.sum(0)
    du2 = torch.nn.grad.conv2d_input(u2.shape, w2 ** 2, d2, stride=2)  # (B, 12, 12, 12)
    d1 = _derivative(fa, a1, y1) ** 2 * du2[:, :, 2:10, 2:10]  # padding receives nothing
    h["H1w"] = _weight_sum(u1, d1).reshape(12, 1, 5, 5)
    h["H1b"] = d1.sum(0)
    return {k: h[k] / b for k in PARAM_NAMES}


class SdlmEagerSession(EagerSession):
    """The eager session, its gradients scaled per parameter by 1 / (mu + h) before each SGD step."""

    def __init__(self, variant, params, dtype: str, device):
        super().__init__(variant, params, dtype, device)
        self.scale = {n: torch.ones_like(p) for n, p in self.net.named_parameters()}

    def _optimizer(self):
        return self.torch.optim.SGD(self.net.parameters(), lr=0.0)  # lr set per step: eps

    def set_step_scale(self, scale: dict[str, np.ndarray]) -> None:
        """Per-parameter step scale 1 / (mu + h), canonical layout (from the core)."""
        self.scale = {n: torch.as_tensor(np.asarray(scale[n]), device=self.device, dtype=self.tdtype)
                      for n in PARAM_NAMES}

    def hessian_diag(self, steps) -> dict[str, np.ndarray]:
        x = torch.as_tensor(steps.x, device=self.device, dtype=self.tdtype)
        h = hessian_diag(dict(self.net.named_parameters()), self.variant, x)
        return {k: v.cpu().numpy().copy() for k, v in h.items()}

    def _adjust_grads(self) -> None:
        for n, p in self.net.named_parameters():
            p.grad.mul_(self.scale[n])

