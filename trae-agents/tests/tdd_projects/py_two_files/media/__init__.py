from .durations import to_milliseconds
from .playlist import Track, format_total, total_ms

__all__ = ["to_milliseconds", "Track", "format_total", "total_ms"]
