"""Model zoo with torchvision's module names and state-dict keys.

A torchvision state dict loads unchanged: `get_model("resnet18").load_state_dict(sd)`.
`unet` is the project's own small encoder-decoder (not a torchvision model).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from patdnn.errors import PatdnnError

from .mobilenet import MobileNetV2, mobilenet_v2
from .mobilenet_v3 import MobileNetV3, mobilenet_v3_large, mobilenet_v3_small
from .resnet import ResNet, resnet18, resnet34, resnet50
from .unet import UNet, unet
from .vgg import VGG, vgg16, vgg16_bn

__all__ = [
    "MODELS",
    "MobileNetV2",
    "MobileNetV3",
    "ResNet",
    "UNet",
    "VGG",
    "ZooError",
    "get_model",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "resnet18",
    "resnet34",
    "resnet50",
    "unet",
    "vgg16",
    "vgg16_bn",
]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "vgg16": vgg16,
    "vgg16_bn": vgg16_bn,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": mobilenet_v3_small,
    "mobilenet_v3_large": mobilenet_v3_large,
    "unet": unet,
}


class ZooError(PatdnnError, ValueError):
    """An unknown zoo model name."""


def get_model(name: str, **kwargs: object) -> nn.Module:
    """Build the zoo model `name` (a key of `MODELS`), passing `kwargs` to its constructor."""
    try:
        factory = MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ZooError(f"unknown model {name!r}; known models: {known}") from None
    return factory(**kwargs)
