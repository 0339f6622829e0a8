"""Model names -> builders, each of one kind. A checkpoint stores the name, so any tool can rebuild its model.

Generators (models.generator.Generator) map L_n to ab_n; discriminators score (L, ab) pairs. A name of
the wrong kind (`model.name=patchgan`) is a one-line ConfigError naming the config key and the choices.
"""
import inspect
from collections.abc import Callable

from torch import nn

from gan_colorizer.errors import ConfigError

Builder = Callable[..., nn.Module]
KINDS = {"generator": "model.name", "discriminator": "gan.discriminator"}  # kind -> the config key choosing one
_ENTRIES: dict[str, tuple[str, Builder]] = {}  # name -> (kind, builder)


def register(name: str, kind: str) -> Callable[[Builder], Builder]:
    """Record a builder of `kind` under `name`. Names are part of the checkpoint format: never rename one."""
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {', '.join(KINDS)}, got {kind!r}")

    def add(builder: Builder) -> Builder:
        if name in _ENTRIES:
            raise ValueError(f"model name {name!r} is registered twice")
        _ENTRIES[name] = (kind, builder)
        return builder

    return add


def build(name: str, *, kind: str | None = None, weights: str | None = None, **args) -> nn.Module:
    """Build a registered model, as torchvision's `get_model(name, weights=..., **config)` does.

    kind: when given, `name` must be of that kind. weights: "imagenet", "none" or a path, loaded by the
    model's `load_pretrained` (every generator; discriminators with a pretrained backbone); None leaves
    the weights random, for a checkpoint to fill. A discriminator without a pretrained part has nothing
    to load: it takes "imagenet" (the config default) and "none" as no-ops and refuses a path.
    A bad name, kind or argument becomes a one-line ConfigError.
    """
    own_kind, builder = _ENTRIES.get(name, (None, None))
    if builder is None or kind not in (None, own_kind):
        choices = f"{kind}s: {', '.join(available(kind))}" if kind else f"known: {', '.join(available())}"
        problem = f"{name!r} is a {own_kind}" if builder else f"unknown model {name!r}"
        raise ConfigError(f"{KINDS[kind] + ': ' if kind else ''}{problem}; {choices}")
    try:
        inspect.signature(builder).bind(**args)
    except TypeError as err:
        raise ConfigError(f"model {name!r}: {err}") from None
    try:
        model = builder(**args)
    except ValueError as err:  # builders reject out-of-range values (depth 0, unknown norm) this way
        raise ConfigError(f"model {name!r}: {err}") from None
    if weights is not None and hasattr(model, "load_pretrained"):
        model.load_pretrained(weights)
    elif weights not in (None, "imagenet", "none"):
        raise ConfigError(f"{KINDS[own_kind]}: {name!r} has no pretrained part to load {weights!r} into")
    return model


def available(kind: str | None = None) -> list[str]:
    """Registered names, sorted: all of them, or those of one kind."""
    return sorted(name for name, (own_kind, _) in _ENTRIES.items() if kind in (None, own_kind))
