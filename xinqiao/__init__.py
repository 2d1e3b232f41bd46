"""心桥 xinqiao — a university's student mental-health network on chat."""

__version__ = "0.1.0"
