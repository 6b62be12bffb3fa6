from grades.scale import letter


def test_a_perfect_score_is_an_a():
    assert letter(100) == "A"
