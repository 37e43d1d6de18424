"""The one exception type for user mistakes: the CLI prints it as a single line and exits non-zero."""


class UserError(Exception):
    """Bad input from the user (arguments, paths, files). Printed as one line, never as a traceback."""

    exit_code = 2


class VerificationFailed(UserError):
    """The file is readable but its data or attributes differ from what was recorded (exit status 1)."""

    exit_code = 1
