"""The one exception type for bad user input; the CLI turns it into a one-line message and exit 2."""


class ConfigError(ValueError):
    """Malformed or out-of-range input: an unknown name, an invalid value, a broken file."""
