"""The data layer's exceptions, below everything else in it so every module can raise them."""


class DataError(ValueError):
    """The benchmark data cannot be used as it is; the message names the file and the fix."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data directory, JSONL file or image is missing."""
