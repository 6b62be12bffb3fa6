"""Shipping rules for the web shop. All amounts are in cents."""

FREE_SHIPPING_THRESHOLD = 5000  # orders of 50.00 or more ship free
FLAT_RATE = 495


def shipping_cost(subtotal: int) -> int:
    """Flat-rate shipping, free from FREE_SHIPPING_THRESHOLD upwards."""
    if subtotal < 0:
        raise ValueError("subtotal cannot be negative")
    if subtotal > FREE_SHIPPING_THRESHOLD:
        return 0
    return FLAT_RATE


def order_total(prices: list[int]) -> int:
    """Sum of item prices plus shipping."""
    subtotal = sum(prices)
    return subtotal + shipping_cost(subtotal)
