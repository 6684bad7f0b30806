//! Integers in constant evaluation: [`Int`] (wide enough for every Rust integer type's bounds)
//! and [`int_range_body`], the rule matching exactly the decimal integers of a range.

use super::text::{decimal, Text};
use super::BODY_CAP;

/// A signed integer wide enough for every Rust integer type's bounds (`i128::MIN..=u128::MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int {
    /// True for negative values (never set for zero).
    pub neg: bool,
    /// The absolute value.
    pub mag: u128,
}

impl Int {
    /// A non-negative value.
    pub const fn pos(mag: u128) -> Int {
        Int { neg: false, mag }
    }
    /// The value `-mag` (zero stays non-negative).
    pub const fn neg(mag: u128) -> Int {
        Int { neg: mag != 0, mag }
    }
    /// From an `i128`.
    pub const fn from_i128(v: i128) -> Int {
        if v < 0 {
            Int::neg(v.unsigned_abs())
        } else {
            Int::pos(v as u128)
        }
    }
    /// `self <= other`.
    pub const fn le(self, other: Int) -> bool {
        match (self.neg, other.neg) {
            (true, false) => true,
            (false, true) => false,
            (false, false) => self.mag <= other.mag,
            (true, true) => self.mag >= other.mag,
        }
    }
    /// The value as `f64` (rounded for huge magnitudes).
    pub const fn as_f64(self) -> f64 {
        let m = self.mag as f64;
        if self.neg {
            -m
        } else {
            m
        }
    }
}

/// A GBNF rule body that matches exactly the decimal integers in `min..=max`, without leading
/// zeros and without `-0`.
pub const fn int_range_body(min: Int, max: Int) -> Text<BODY_CAP> {
    if !min.le(max) {
        panic!("instructor: integer range with min > max");
    }
    let mut out = Text::<BODY_CAP>::new();
    if max.neg {
        // Both negative: "-" followed by magnitudes |max|..=|min|.
        out = out.raw("\"-\" ( ");
        out = nonneg_range(out, max.mag, min.mag);
        return out.raw(" )");
    }
    if min.neg {
        out = out.raw("\"-\" ( ");
        out = nonneg_range(out, 1, min.mag);
        out = out.raw(" ) | ");
        return nonneg_range(out, 0, max.mag);
    }
    nonneg_range(out, min.mag, max.mag)
}

/// The largest `d`-digit number, when it fits in a `u128`.
const fn nines(d: usize) -> Option<u128> {
    if d >= 39 {
        None
    } else {
        Some(pow10(d) - 1)
    }
}

const fn is_nines(v: u128, d: usize) -> bool {
    match nines(d) {
        Some(n) => n == v,
        None => false,
    }
}

const fn pow10(k: usize) -> u128 {
    let mut p: u128 = 1;
    let mut i = 0;
    while i < k {
        p *= 10;
        i += 1;
    }
    p
}

/// Alternatives matching `lo..=hi` (both non-negative), split by digit count. Digit counts
/// that are entirely inside the range collapse into one `[1-9] [0-9]{a,b}` alternative.
const fn nonneg_range(mut out: Text<BODY_CAP>, lo: u128, hi: u128) -> Text<BODY_CAP> {
    let mut lo_digits = [0u8; 40];
    let mut hi_digits = [0u8; 40];
    let dlo = decimal(lo, &mut lo_digits);
    let dhi = decimal(hi, &mut hi_digits);
    let mut first = true;
    let mut d = dlo;
    while d <= dhi {
        let a = if d == dlo { lo } else { pow10(d - 1) };
        let b = if d == dhi { hi } else { pow10(d) - 1 };
        let full = d > 1 && a == pow10(d - 1) && is_nines(b, d);
        if !first {
            out = out.raw(" | ");
        }
        first = false;
        if full {
            // Every number of d..=e digits: find how far the run of full digit counts goes.
            let mut e = d;
            while e < dhi && (e + 1 < dhi || is_nines(hi, dhi)) {
                e += 1;
            }
            out = out.raw("[1-9] [0-9]");
            if d - 1 == e - 1 {
                if d - 1 > 1 {
                    out = out.byte(b'{').uint((d - 1) as u128).byte(b'}');
                }
            } else {
                out = out
                    .byte(b'{')
                    .uint((d - 1) as u128)
                    .byte(b',')
                    .uint((e - 1) as u128)
                    .byte(b'}');
            }
            d = e + 1;
            continue;
        }
        let mut ad = [0u8; 40];
        let mut bd = [0u8; 40];
        decimal(a, &mut ad);
        decimal(b, &mut bd);
        out = same_len(out, &ad, &bd, d, 0, Text::new(), true);
        d += 1;
    }
    out
}

/// Appends alternatives matching the `n`-digit numbers from `a` to `b` (digit arrays) whose
/// first `i` digits are the fixed `prefix`.
const fn same_len(
    mut out: Text<BODY_CAP>,
    a: &[u8; 40],
    b: &[u8; 40],
    n: usize,
    i: usize,
    prefix: Text<64>,
    first: bool,
) -> Text<BODY_CAP> {
    if i == n {
        if !first {
            out = out.raw(" | ");
        }
        return out.byte(b'"').text(&prefix).byte(b'"');
    }
    if a[i] == b[i] {
        return same_len(out, a, b, n, i + 1, prefix.byte(a[i]), first);
    }
    let rest = n - i - 1;
    let a_low = all(a, i + 1, n, b'0');
    let b_high = all(b, i + 1, n, b'9');
    let mut first = first;
    // The numbers starting with a[i] that cannot take every following digit.
    let mut mid_lo = a[i];
    if !a_low {
        let mut nines = *a;
        let mut k = i + 1;
        while k < n {
            nines[k] = b'9';
            k += 1;
        }
        out = same_len(out, a, &nines, n, i + 1, prefix.byte(a[i]), first);
        first = false;
        mid_lo = a[i] + 1;
    }
    let mut mid_hi = b[i];
    if !b_high {
        mid_hi = b[i] - 1;
    }
    if mid_lo <= mid_hi {
        if !first {
            out = out.raw(" | ");
        }
        first = false;
        if !prefix.is_empty() {
            out = out.byte(b'"').text(&prefix).raw("\" ");
        }
        out = if mid_lo == mid_hi {
            out.byte(b'"').byte(mid_lo).byte(b'"')
        } else {
            out.byte(b'[')
                .byte(mid_lo)
                .byte(b'-')
                .byte(mid_hi)
                .byte(b']')
        };
        if rest == 1 {
            out = out.raw(" [0-9]");
        } else if rest > 1 {
            out = out.raw(" [0-9]{").uint(rest as u128).byte(b'}');
        }
    }
    if !b_high {
        let mut zeros = *b;
        let mut k = i + 1;
        while k < n {
            zeros[k] = b'0';
            k += 1;
        }
        out = same_len(out, &zeros, b, n, i + 1, prefix.byte(b[i]), first);
    }
    out
}

const fn all(d: &[u8; 40], from: usize, to: usize, v: u8) -> bool {
    let mut k = from;
    while k < to {
        if d[k] != v {
            return false;
        }
        k += 1;
    }
    true
}
