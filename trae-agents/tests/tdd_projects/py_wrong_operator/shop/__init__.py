from .shipping import FREE_SHIPPING_THRESHOLD, FLAT_RATE, shipping_cost, order_total

__all__ = ["FREE_SHIPPING_THRESHOLD", "FLAT_RATE", "shipping_cost", "order_total"]
