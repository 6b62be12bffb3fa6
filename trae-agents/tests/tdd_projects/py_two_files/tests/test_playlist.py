from media import Track, format_total, to_milliseconds, total_ms


def test_to_milliseconds():
    assert to_milliseconds(1.5) == 1500
    assert to_milliseconds(0.25) == 250


def test_total_whole_seconds():
    tracks = [Track("Intro", 180), Track("Outro", 200)]
    assert total_ms(tracks) == 380_000


def test_total_fractional_seconds():
    tracks = [Track("Jingle", 1.234), Track("Sting", 2.5)]
    assert total_ms(tracks) == 3734


def test_format_total():
    assert format_total([Track("A", 59), Track("B", 321)]) == "6:20"
