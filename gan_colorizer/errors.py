"""The errors a user can cause and fix: every one becomes a single `Error: ...` line in a tool."""


class ColorizerError(Exception):
    """Base class: a problem with the user's input, files or settings, never a bug of ours."""


class ConfigError(ColorizerError):
    """A config key, value, model name or model argument is wrong."""


class ImageError(ColorizerError):
    """An image file cannot be read, decoded or written."""


class DataError(ColorizerError):
    """A data set (folder or .zip) is missing, empty or unusable."""


class CheckpointError(ColorizerError):
    """A checkpoint is missing, truncated, foreign or of the wrong kind."""


class MissingWeightsError(ColorizerError):
    """Pretrained weights are not in the torch cache; we never download them."""
