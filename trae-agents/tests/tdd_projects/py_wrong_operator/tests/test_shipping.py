from shop import FLAT_RATE, order_total, shipping_cost


def test_small_order_pays_flat_rate():
    assert shipping_cost(1999) == FLAT_RATE
    assert order_total([999, 1000]) == 1999 + FLAT_RATE


def test_large_order_ships_free():
    assert shipping_cost(12000) == 0


def test_order_at_threshold_ships_free():
    assert order_total([2500, 2500]) == 5000
