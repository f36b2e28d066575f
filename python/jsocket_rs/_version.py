"""Package version, and the jsocket release whose API this package offers."""

__version__ = "0.1.0"
JSOCKET_API_VERSION = "2.0.3"
