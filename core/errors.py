"""Errors the user can act on. Their text is shown as is: one line, no secrets."""


class AbacusError(Exception):
    """Base of errors with a message fit for a person."""


class InputError(AbacusError):
    """Bad input or usage: nothing was written (CLI exit 2)."""


class RuntimeFailure(AbacusError):
    """The run failed for an outside reason: vendor down, DB down (CLI exit 1)."""


class ConfigError(RuntimeFailure):
    """The configuration cannot work."""


class DataRejected(RuntimeFailure):
    """The database refused a value or a sum as out of range; that transaction was rolled back."""


class LockLost(RuntimeFailure):
    """A job found that its lock (one sync at a time) is no longer its own; it stopped."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM) while a job ran: unwound like Ctrl-C, so the job
    records how it ended and its worker stops, with its own text (`str(exc)`)."""


class PermissionDenied(AbacusError):
    """The person may not do this."""
