"""Duration helpers."""


def to_milliseconds(seconds: float) -> int:
    """Convert a duration in seconds to whole milliseconds (rounded)."""
    if seconds < 0:
        raise ValueError("duration cannot be negative")
    return round(seconds * 100)
