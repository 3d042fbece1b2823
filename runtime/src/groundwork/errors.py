"""Errors a user can fix: the CLI prints them as one clear message, not a traceback."""


class UserFacingError(Exception):
    """A problem with the input or the setup; the message names it and the fix."""


class DataValidationError(UserFacingError):
    """Data broke a rule of the schema; the message names the columns, rules and rows."""
