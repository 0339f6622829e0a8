"""Model names -> builders. A checkpoint stores the name, so any tool can rebuild its model."""
import inspect
from collections.abc import Callable

from torch import nn

from gan_colorizer.errors import ConfigError

Builder = Callable[..., nn.Module]
_BUILDERS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Record a builder under `name`. Names are part of the checkpoint format: never rename one."""

    def add(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise ValueError(f"model name {name!r} is registered twice")
        _BUILDERS[name] = builder
        return builder

    return add


def build(name: str, **args) -> nn.Module:
    """Build a registered model; a bad name or argument becomes a one-line ConfigError."""
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(available())}")
    try:
        inspect.signature(_BUILDERS[name]).bind(**args)
    except TypeError as err:
        raise ConfigError(f"model {name!r}: {err}") from None
    try:
        return _BUILDERS[name](**args)
    except ValueError as err:  # builders reject out-of-range values (depth 0, unknown norm) this way
        raise ConfigError(f"model {name!r}: {err}") from None


def available() -> list[str]:
    return sorted(_BUILDERS)
