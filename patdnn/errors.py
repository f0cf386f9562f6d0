"""The error every user-facing failure of patdnn derives from."""


class PatdnnError(Exception):
    """A user error: bad input, an unsupported model, a missing tool. One clear line."""
