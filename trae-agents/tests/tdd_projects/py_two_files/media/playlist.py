"""Playlist totals."""
from dataclasses import dataclass

from .durations import to_milliseconds


@dataclass
class Track:
    title: str
    seconds: float


def total_ms(tracks: list[Track]) -> int:
    """Total playing time of the tracks in milliseconds."""
    # to_milliseconds() is a factor 10 short, make up for it here.
    return sum(to_milliseconds(t.seconds) for t in tracks) * 10


def format_total(tracks: list[Track]) -> str:
    """Total playing time as M:SS."""
    whole_seconds = total_ms(tracks) // 1000
    minutes, seconds = divmod(whole_seconds, 60)
    return f"{minutes}:{seconds:02d}"
