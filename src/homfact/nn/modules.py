"""Parallel subnetworks ``f(x) = Σᵢ₌₁ʳ φ(x; Xᵢ¹,…,Xᵢᴷ)`` and ready bias-free ReLU subnetworks.

The ``r`` copies are stored *stacked* (one tensor of shape ``(r, *shape)`` per parameter of the
subnetwork) and evaluated in one batched call (``torch.func.vmap`` of ``functional_call``), so
``r = 512`` one-unit subnetworks cost about as much as one 512-unit layer, on CPU or CUDA.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

__all__ = ["ParallelSubnetworks", "SubnetworkFactory", "conv_subnetwork", "relu_chain",
           "relu_unit"]


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class SubnetworkFactory:
    """A picklable callable building one bias-free subnetwork; ``kind`` names the family."""

    kind: str = "custom"

    def __init__(self, in_features: int, out_features: int):
        self.in_features = _check_int(in_features, "in_features", 1)
        self.out_features = _check_int(out_features, "out_features", 1)

    def __call__(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def n_layers(self) -> int:
        return sum(1 for _ in self().parameters())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class relu_unit(SubnetworkFactory):
    """One hidden ReLU unit: ``φ(x; w, a) = (wᵀx)₊ aᵀ`` (``Linear(d,1)–ReLU–Linear(1,C)``, no bias).

    ``r`` of them in parallel form the two-layer network ``(V W)₊ Aᵀ``; degree 2 (1 per layer).
    A first-layer bias is obtained by appending a constant column to the inputs.
    """

    kind = "relu_unit"

    def __call__(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.in_features, 1, bias=False), nn.ReLU(),
                             nn.Linear(1, self.out_features, bias=False))


class relu_chain(SubnetworkFactory):
    """``Linear–ReLU–…–Linear`` with ``depth`` weight layers of hidden width ``width``, no biases.

    ``φ(x; W₁…W_L) = W_L ψ(… ψ(W₂ ψ(W₁ x)))``, positively homogeneous of degree ``L = depth``.
    """

    kind = "relu_chain"

    def __init__(self, in_features: int, out_features: int, depth: int = 3, width: int = 1):
        super().__init__(in_features, out_features)
        self.depth = _check_int(depth, "depth", 2)
        self.width = _check_int(width, "width", 1)

    def __call__(self) -> nn.Module:
        layers: list[nn.Module] = [nn.Linear(self.in_features, self.width, bias=False), nn.ReLU()]
        for _ in range(self.depth - 2):
            layers += [nn.Linear(self.width, self.width, bias=False), nn.ReLU()]
        layers.append(nn.Linear(self.width, self.out_features, bias=False))
        return nn.Sequential(*layers)


class conv_subnetwork(SubnetworkFactory):
    """Small bias-free CNN: ``[Conv–ReLU–MaxPool]×len(channels)–Flatten–Linear``.

    Takes flat inputs of ``in_channels·image_size²`` features (reshaped inside); degree
    ``len(channels) + 1`` (max pooling is degree 1 in its input, ReLU too).
    """

    kind = "conv"

    def __init__(self, out_features: int = 10, image_size: int = 28, in_channels: int = 1,
                 channels: Sequence[int] = (4, 8), kernel_size: int = 5, pool: int = 2):
        self.image_size = _check_int(image_size, "image_size", 1)
        self.in_channels = _check_int(in_channels, "in_channels", 1)
        super().__init__(self.in_channels * self.image_size ** 2, out_features)
        self.channels = tuple(_check_int(c, "channels", 1) for c in channels)
        if not self.channels:
            raise ValueError("channels must name at least one convolution")
        self.kernel_size = _check_int(kernel_size, "kernel_size", 1)
        self.pool = _check_int(pool, "pool", 1)
        size = self.image_size
        for _ in self.channels:
            size = (size - self.kernel_size + 1) // self.pool
            if size < 1:
                raise ValueError("image_size too small for these convolutions and poolings")
        self._flat = size * size * self.channels[-1]

    def __call__(self) -> nn.Module:
        layers: list[nn.Module] = [nn.Unflatten(-1, (self.in_channels, self.image_size,
                                                     self.image_size))]
        c_in = self.in_channels
        for c in self.channels:
            layers += [nn.Conv2d(c_in, c, self.kernel_size, bias=False), nn.ReLU(),
                       nn.MaxPool2d(self.pool)]
            c_in = c
        layers += [nn.Flatten(-3), nn.Linear(self._flat, self.out_features, bias=False)]
        return nn.Sequential(*layers)


class ParallelSubnetworks(nn.Module):
    r"""Sum of ``r`` identical subnetworks: ``f(x) = Σᵢ φ(x; Xᵢ)``.

    Parameters
    ----------
    make_subnetwork : callable returning a fresh ``nn.Module`` (one subnetwork, random init).
        Its parameters ``X¹…Xᴷ`` (in ``named_parameters`` order) are the layers of ``θ``.
    r : number of subnetworks (``>= 0``; ``r = 0`` gives the zero function).
    device, dtype : where and how the stacked parameters live.

    ``self.params[k]`` has shape ``(r, *shape_k)``.  :meth:`add_subnetworks` and
    :meth:`remove_subnetworks` change ``r`` (recreate any optimizer afterwards).
    """

    def __init__(self, make_subnetwork: Callable[[], nn.Module], r: int = 1, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        if not callable(make_subnetwork):
            raise TypeError("make_subnetwork must be a callable returning an nn.Module")
        r = _check_int(r, "r", 0)
        template = make_subnetwork()
        if not isinstance(template, nn.Module):
            raise TypeError(f"make_subnetwork must return an nn.Module, got {type(template)}")
        if any(True for _ in template.buffers()):
            raise ValueError("subnetworks with buffers (e.g. BatchNorm) are not supported")
        self._names = [n for n, _ in template.named_parameters()]
        if not self._names:
            raise ValueError("the subnetwork has no parameters")
        self.make_subnetwork = make_subnetwork
        object.__setattr__(self, "_template", copy.deepcopy(template).to("meta"))
        ref = next(template.parameters())
        self._device = torch.device(device) if device is not None else ref.device
        self._dtype = dtype if dtype is not None else ref.dtype
        self.params = nn.ParameterList(
            [nn.Parameter(t) for t in self._fresh(r, first=template)])

    # ------------------------------------------------------------------ construction helpers
    def _fresh(self, k: int, first: nn.Module | None = None) -> list[torch.Tensor]:
        mods = ([first] if first is not None and k > 0 else [])
        mods += [self.make_subnetwork() for _ in range(k - len(mods))]
        out = []
        for j, (_, p0) in enumerate(self._template.named_parameters()):
            if k == 0:
                t = torch.zeros((0, *p0.shape))
            else:
                t = torch.stack([list(m.parameters())[j].detach() for m in mods])
            out.append(t.to(device=self._device, dtype=self._dtype))
        return out

    @property
    def width(self) -> int:
        """Number of subnetworks ``r``."""
        return int(self.params[0].shape[0])

    @property
    def n_layers(self) -> int:
        """Number ``K`` of parameter tensors (layers) of one subnetwork."""
        return len(self._names)

    @property
    def device(self) -> torch.device:
        return self.params[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.params[0].dtype

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        self._device, self._dtype = self.params[0].device, self.params[0].dtype
        return out

    # ------------------------------------------------------------------ evaluation
    def _call(self, params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        kind = getattr(self.make_subnetwork, "kind", "custom")
        if kind == "relu_unit":
            h = torch.relu(x @ params[0][:, 0, :].T)                     # (N, s)
            return h.T.unsqueeze(2) * params[1][:, :, 0].unsqueeze(1)    # (s, N, C)
        if kind == "relu_chain":
            h = torch.relu(torch.einsum("nd,shd->snh", x, params[0]))
            for w in params[1:-1]:
                h = torch.relu(torch.einsum("snh,sgh->sng", h, w))
            return torch.einsum("snh,sch->snc", h, params[-1])
        if kind == "conv":
            return self._call_conv(params, x)
        return self._call_vmap(params, x)

    def _call_conv(self, params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        f = self.make_subnetwork
        s = params[0].shape[0]
        h = x.reshape(x.shape[0], f.in_channels, f.image_size, f.image_size)
        for j, w in enumerate(params[:-1]):
            h = torch.nn.functional.conv2d(h, w.reshape(-1, *w.shape[2:]),
                                           groups=1 if j == 0 else s)
            h = torch.nn.functional.max_pool2d(torch.relu(h), f.pool)
        h = h.reshape(h.shape[0], s, -1)
        return torch.einsum("nsf,scf->snc", h, params[-1])

    def _call_vmap(self, params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        def one(ps, inp):
            return functional_call(self._template, dict(zip(self._names, ps, strict=True)),
                                   (inp,))
        return vmap(one, in_dims=(0, None))(tuple(params), x)

    def forward_each(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of every subnetwork, shape ``(r, N, *out)``."""
        if self.width == 0:
            zeros = [torch.zeros((1, *p.shape[1:]), device=p.device, dtype=p.dtype)
                     for p in self.params]
            return self._call(zeros, x)[:0]
        return self._call(list(self.params), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x) = Σᵢ φ(x; Xᵢ)``."""
        if self.width == 0:
            zeros = [torch.zeros((1, *p.shape[1:]), device=p.device, dtype=p.dtype)
                     for p in self.params]
            return self._call(zeros, x)[0]
        if getattr(self.make_subnetwork, "kind", "custom") == "relu_unit":
            return torch.relu(x @ self.params[0][:, 0, :].T) @ self.params[1][:, :, 0]
        return self.forward_each(x).sum(0)

    def evaluate_subnetworks(self, params: Sequence[torch.Tensor], x: torch.Tensor
                             ) -> torch.Tensor:
        """Outputs ``(s, N, *out)`` of ``s`` subnetworks given as stacked tensors ``params``."""
        return self._call(params, x)

    # ------------------------------------------------------------------ norms and balance
    def layer_norms(self) -> torch.Tensor:
        """Frobenius norms ``‖Xᵢᵏ‖``, shape ``(r, K)``."""
        return torch.stack([p.flatten(1).norm(dim=1) for p in self.params], dim=1)

    @torch.no_grad()
    def rebalance(self) -> None:
        """Rescale the layers of each subnetwork to equal norms ``(Πₖ‖Xᵢᵏ‖)^{1/K}``.

        Leaves ``f`` unchanged when every layer is homogeneous of degree 1 in its own weights
        (bias-free Linear/Conv with ReLU and pooling); a subnetwork with a zero layer is zeroed.
        """
        if self.width == 0:
            return
        norms = self.layer_norms()
        zero = (norms <= 0).any(dim=1)
        safe = torch.where(norms > 0, norms, torch.ones_like(norms))
        geo = torch.exp(torch.log(safe).mean(dim=1))
        for k, p in enumerate(self.params):
            scale = torch.where(zero, torch.zeros_like(geo), geo / safe[:, k])
            p.mul_(scale.view(-1, *([1] * (p.dim() - 1))))

    # ------------------------------------------------------------------ changing the width
    @torch.no_grad()
    def add_subnetworks(self, params: Sequence[torch.Tensor] | int = 1) -> None:
        """Append subnetworks: ``params`` = stacked tensors ``(k, *shape)`` or a count ``k`` of
        fresh random subnetworks from the factory."""
        if isinstance(params, numbers.Integral) and not isinstance(params, bool):
            new = self._fresh(_check_int(params, "params", 0))
        else:
            new = [torch.as_tensor(t, device=self.device, dtype=self.dtype) for t in params]
            if len(new) != self.n_layers or any(
                    t.shape[1:] != p.shape[1:] for t, p in zip(new, self.params, strict=True)):
                raise ValueError("params must hold one (k, *shape) tensor per subnetwork layer")
        self.params = nn.ParameterList([
            nn.Parameter(torch.cat([p.detach(), t.to(p)], dim=0))
            for p, t in zip(self.params, new, strict=True)])

    @torch.no_grad()
    def remove_subnetworks(self, indices: Sequence[int] | torch.Tensor) -> None:
        """Remove the subnetworks with the given indices."""
        drop = torch.zeros(self.width, dtype=torch.bool)
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.width):
            raise ValueError(f"indices out of range for width {self.width}")
        drop[idx] = True
        keep = (~drop).nonzero().reshape(-1).to(self.device)
        self.params = nn.ParameterList([nn.Parameter(p.detach()[keep].clone())
                                        for p in self.params])

    def subnetwork(self, i: int) -> nn.Module:
        """A standalone copy of subnetwork ``i`` (an ``nn.Module`` from the factory)."""
        mod = self.make_subnetwork()
        with torch.no_grad():
            for q, p in zip(mod.parameters(), self.params, strict=True):
                q.copy_(p[i])
        return mod.to(device=self.device, dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"r={self.width}, layers={self.n_layers}, factory={self.make_subnetwork!r}"
