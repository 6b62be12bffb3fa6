PASS_MARK = 50


def letter(score):
    if score < 0 or score > 100:
        raise ValueError("score must be between 0 and 100")
    if score >= 90:
        return "A"
    if score >= 70:
        return "B"
    if score >= PASS_MARK:
        return "C"
    return "F"
