"""`eager`: the idiomatic loop a PyTorch user writes (nn.Module, autograd, torch.optim: SGD or
AdamW), one example at a time. The reference the other torch strategies are checked against."""
from __future__ import annotations

import numpy as np

from harness.backend import Steps
from harness.spec import Variant

from . import kernels
from .framework import import_torch, sync
from .network import loss_fn, make_net, make_optimizer
from .settings import session_environment

EVAL_IMPL = ("torch conv2d NCHW/OIHW, H2 as one conv2d per group of output planes over the input planes "
             "they share (harness.tables.h2_groups)")


class EagerSession:
    """`eager`: the idiomatic loop (nn.Module, autograd, torch.optim), one example at a time."""

    def __init__(self, variant: Variant, params, dtype: str, device):
        torch = import_torch()
        self.torch, self.variant, self.device = torch, variant, torch.device(device)
        self.tdtype = getattr(torch, dtype)
        self.net = make_net(torch, variant)(params).to(device=device, dtype=self.tdtype)
        self.loss = loss_fn(torch, variant)
        self.opt = self._optimizer()

    def _optimizer(self):
        """The variant's torch.optim optimiser (SDLM's session overrides it)."""
        return make_optimizer(self.torch, self.variant, self.net.parameters())

    def _tensors(self, steps: Steps):
        t = self.torch
        kw = {"device": self.device}
        x = t.as_tensor(steps.x, **kw, dtype=self.tdtype)
        tg = t.as_tensor(steps.targets, **kw, dtype=self.tdtype)
        lb = t.as_tensor(steps.labels, **kw)
        mask = None if steps.mask is None else t.as_tensor(steps.mask, **kw, dtype=self.tdtype)
        return x, tg, lb, mask

    def _adjust_grads(self) -> None:
        """Between backward and the optimiser step: nothing here (SDLM scales each gradient)."""

    def train_steps(self, steps: Steps) -> np.ndarray:
        x, tg, lb, mask = self._tensors(steps)
        group = self.opt.param_groups[0]
        self.net.train()
        losses = []
        for i in range(len(steps)):
            group["lr"] = float(steps.lr[i])
            out = self.net(x[i:i + 1], None if mask is None else mask[i:i + 1])
            loss = self.loss(out, tg[i:i + 1], lb[i:i + 1])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self._adjust_grads()
            self.opt.step()
            losses.append(loss.detach())
        return self.torch.stack(losses).double().cpu().numpy()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        with self.torch.no_grad():
            out = self.net(self.torch.as_tensor(x, device=self.device, dtype=self.tdtype))
        return out.cpu().numpy()

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.net.eval()
        with self.torch.no_grad():
            layers = self.net.layers(self.torch.as_tensor(x, device=self.device, dtype=self.tdtype))
        return {k: v.cpu().numpy() for k, v in layers.items()}

    def loss_and_grads(self, steps: Steps):
        x, tg, lb, mask = self._tensors(steps)
        self.net.zero_grad(set_to_none=True)
        loss = self.loss(self.net(x, mask), tg, lb)
        loss.backward()
        grads = {n: p.grad.detach().cpu().numpy().copy() for n, p in self.net.named_parameters()}
        self.net.zero_grad(set_to_none=True)
        return float(loss.detach().cpu()), grads

    def get_params(self):
        return {n: p.detach().cpu().numpy().copy() for n, p in self.net.named_parameters()}

    def environment(self) -> dict:
        return session_environment(self.torch, EVAL_IMPL)

    def sync(self):
        sync(self.torch, self.device)

    def kernels_per_example(self, steps: Steps) -> dict:
        return kernels.count(self, steps, self.device)
