"""Exceptions that t2i raises for problems a user can fix."""


class T2IError(Exception):
    """Base class for errors caused by inputs or settings, with a message that explains how to fix them."""


class DatasetError(T2IError, ValueError):
    """A dataset root, file or record that is missing or malformed."""


class ModelNotFoundError(T2IError, FileNotFoundError):
    """A trained model, checkpoint or text encoder that cannot be found."""


class ConfigError(T2IError, ValueError):
    """A setting with an invalid value, such as a batch size of 0 or an unsupported image size."""


class TrainingError(T2IError, RuntimeError):
    """Training cannot go on, for example after too many batches with a non-finite loss."""
