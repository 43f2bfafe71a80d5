"""The network as an nn.Module, its loss and its torch.optim optimiser (torch is handed in).

The padding value and H2's connection table are read from harness.spec (its index tables from
harness.tables) when the class is made, so a session follows the spec it was built under.
"""
from __future__ import annotations

import numpy as np

from harness import spec, tables
from harness.spec import PARAM_NAMES, Variant


def activation(torch, name: str):
    """The nonlinearity `name` (spec.HIDDEN_ACTIVATIONS / OUTPUT_ACTIVATIONS) in torch."""
    A, S = spec.SCALED_TANH_A, spec.SCALED_TANH_S
    return {"tanh": torch.tanh, "scaled_tanh": lambda a: A * torch.tanh(S * a), "relu": torch.relu,
            "linear": lambda a: a}[name]


def squared_error(torch, out, target, reduction: str):
    """The mse loss of docs/spec.md: (target - out)^2 over the 10 outputs, their mean or sum."""
    sq = (target - out) ** 2
    return torch.mean(sq) if reduction == "mean" else torch.sum(sq)


def make_net(torch, variant: Variant):
    """The nn.Module class for `variant`; padding value and H2's connections read from harness.spec
    when the class is made (so a session follows the spec it was built under)."""
    nn, F = torch.nn, torch.nn.functional
    act, out_act = activation(torch, variant.hidden_activation), activation(torch, variant.output_activation)
    pad, pad_value = (spec.PAD,) * 4, float(spec.PAD_VALUE)
    groups = tables.h2_groups()  # (output planes, the H1 planes they see), in output order

    class Net(nn.Module):
        """LeCun et al. 1989, parameters in the canonical layout (see harness.spec)."""

        def __init__(self, params: dict[str, np.ndarray]):
            super().__init__()
            for name in PARAM_NAMES:
                setattr(self, name, nn.Parameter(torch.from_numpy(np.array(params[name]))))
            for g, (outs, ins) in enumerate(groups):
                self.register_buffer(f"h2_in{g}", torch.tensor(ins), persistent=False)
            self.h2_out = [slice(outs[0], outs[-1] + 1) for outs, _ in groups]

        def layers(self, x, mask=None) -> dict:
            """Each layer's output after its nonlinearity (the output layer: the output)."""
            x = F.pad(x, pad, "constant", pad_value)  # (B, 1, 20, 20)
            h1 = act(F.conv2d(x, self.H1w, stride=2) + self.H1b)  # (B, 12, 8, 8)
            x = F.pad(h1, pad, "constant", pad_value)  # (B, 12, 12, 12)
            # H2: one convolution per group of output planes over the 8 input planes they share
            sums = [F.conv2d(x[:, getattr(self, f"h2_in{g}")], self.H2w[o], stride=2)  # (B, |group|, 4, 4)
                    for g, o in enumerate(self.h2_out)]
            h2 = act(torch.cat(sums, dim=1) + self.H2b)  # (B, 12, 4, 4)
            x = h2 if mask is None else h2 * mask  # dropout mask drawn by the core, already scaled
            h3 = act(x.flatten(start_dim=1) @ self.H3w + self.H3b)  # (B, 30), (C, H, W) order
            return {"H1": h1, "H2": h2, "H3": h3, "out": out_act(h3 @ self.outw + self.outb)}  # out (B, 10)

        def forward(self, x, mask=None):
            return self.layers(x, mask)["out"]  # (B, 10)

    return Net


def loss_fn(torch, variant: Variant):
    F = torch.nn.functional
    if variant.loss == "mse":
        return lambda out, target, label: squared_error(torch, out, target, variant.reduction)
    return lambda out, target, label: F.cross_entropy(out, label)


def make_optimizer(torch, variant: Variant, params):
    opt = variant.optimizer
    if opt.kind == "sgd":
        return torch.optim.SGD(params, lr=opt.lr)
    return torch.optim.AdamW(params, lr=opt.lr_start, betas=(opt.beta1, opt.beta2),
                             eps=opt.eps, weight_decay=opt.weight_decay)
