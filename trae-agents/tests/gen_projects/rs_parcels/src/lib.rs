//! Parcel fees.

/// The fee, in cents, for a parcel of `grams`.
pub fn fee(grams: u32) -> u32 {
    if grams == 0 {
        return 0;
    }
    let mut fee = 300;
    if grams > 1000 {
        fee += 200;
    }
    fee
}
