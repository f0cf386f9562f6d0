from __future__ import annotations

import pytest
from torch import nn

from patdnn.pruning import PruningError, is_prunable, select_layers


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise: left alone
            nn.Conv2d(8, 16, 1),  # 1x1: left alone
            nn.Conv2d(16, 16, 5, padding=2),  # 5x5: left alone
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
        )
        self.head = nn.Linear(16, 4)


def test_default_selection_skips_first_conv_and_other_shapes() -> None:
    layers = select_layers(Mixed())
    assert list(layers) == ["body.0", "body.5"]
    assert all(is_prunable(m) for m in layers.values())


def test_include_and_exclude_by_name() -> None:
    model = Mixed()
    assert list(select_layers(model, include=["body.5", "stem"])) == ["stem", "body.5"]
    assert list(select_layers(model, include="stem")) == ["stem"]
    assert list(select_layers(model, exclude=["body.0"])) == ["body.5"]
    assert list(select_layers(model, include=["stem", "body.0"], exclude="stem")) == ["body.0"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"include": ["nope"]}, "'nope', which is not a module"),
        ({"exclude": ["body.9"]}, "'body.9', which is not a module"),
        ({"include": ["body.2"]}, "not a 3x3 groups=1 Conv2d"),
        ({"include": ["body.3"]}, "not a 3x3 groups=1 Conv2d"),
        ({"include": ["head"]}, "not a 3x3 groups=1 Conv2d"),
        ({"exclude": ["body.0", "body.5"]}, "no prunable layer"),
        ({"include": [3]}, "module names"),
    ],
)
def test_bad_layer_names(kwargs, message: str) -> None:
    with pytest.raises(PruningError, match=message):
        select_layers(Mixed(), **kwargs)


def test_model_without_prunable_layer() -> None:
    for model in (
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 1)),  # only the first conv is 3x3
        nn.Sequential(nn.Flatten(), nn.Linear(4, 2)),
    ):
        with pytest.raises(PruningError, match="no prunable layer"):
            select_layers(model)
    with pytest.raises(PruningError, match="nn.Module"):
        select_layers("not a model")  # type: ignore[arg-type]
