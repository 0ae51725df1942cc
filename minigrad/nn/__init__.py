"""Neural-network building blocks with torch's names (``torch.nn``).

    import minigrad as mg
    from minigrad import nn
    import minigrad.nn.functional as F

    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    loss = F.cross_entropy(model(x), y)

Weight layouts, ``state_dict`` keys and default initialisations are torch's, so
``model.load_state_dict(torch_model.state_dict())`` loads a torch model unchanged.
"""

from . import functional, init, utils
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .containers import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d
from .parameter import Parameter
from .pooling import AvgPool2d, MaxPool2d
from .sparse import Embedding

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Identity", "Linear",
    "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Unflatten", "ReLU", "LeakyReLU", "ELU",
    "Sigmoid", "Tanh", "GELU", "Softplus", "Softmax", "LogSoftmax", "Dropout", "BatchNorm1d",
    "BatchNorm2d", "Embedding", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss",
    "BCEWithLogitsLoss", "functional", "init", "utils",
]
