"""The neural stack: a small reverse-mode autodiff engine over numpy with Numba kernels for the hot
paths (`tensor`, `functions`, `kernels`, `gradcheck`), the layers built on it (`nn`) and the optimizers
(`optim`).

    >>> from nerwin.autodiff import tensor
    >>> x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
"""
from . import functions, nn, optim
from .functions import (
                        binary_cross_entropy_with_logits,
                        concatenate,
                        cross_entropy,
                        dropout,
                        exp,
                        gather,
                        hardtanh,
                        kl_div,
                        linear,
                        log,
                        log_softmax,
                        matmul,
                        mse_loss,
                        relu,
                        reshape,
                        sigmoid,
                        softmax,
                        tanh,
                        transpose,
                        window_gather,
)
from .gradcheck import GradcheckError, gradcheck
from .kernels import jit
from .sparse import RowGrad
from .tensor import Context, Function, Tensor, grad, is_grad_enabled, no_grad, tensor, unbroadcast

__all__ = [
    "Tensor", "tensor", "Function", "Context", "RowGrad", "grad", "no_grad", "is_grad_enabled", "unbroadcast",
    "gradcheck", "GradcheckError", "jit", "functions", "nn", "optim",
    "exp", "log", "matmul", "linear", "reshape", "transpose", "concatenate", "gather", "window_gather",
    "sigmoid", "tanh", "relu", "hardtanh", "softmax", "log_softmax",
    "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "kl_div", "dropout",
]
