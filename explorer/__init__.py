"""autograd-explorer: see PyTorch autograd on a formula you type.

>>> from explorer import explore
>>> print(explore("y = x**2 + 1", {"x": 2.0}).transcript, end="")
x: tensor(2., requires_grad=True)
y: tensor(5., grad_fn=<AddBackward0>)
x.grad : tensor(4.)
"""

from explorer.core import Exploration, explore
from explorer.errors import (
    ComputeError,
    ExplorerError,
    FormulaError,
    InputError,
    LimitError,
    RenderError,
)
from explorer.formula import Formula, parse

__all__ = [
    "ComputeError",
    "Exploration",
    "ExplorerError",
    "Formula",
    "FormulaError",
    "InputError",
    "LimitError",
    "RenderError",
    "explore",
    "parse",
]
__version__ = "0.1.0"
