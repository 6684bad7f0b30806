//! Rule names: the GBNF name of a type or field (`vec-u8`, `UserDetail-3fa2c1`,
//! `UserDetail-3fa2c1-age`). The derive mirrors [`name`]'s mangling of one part to keep its own
//! rule suffixes apart; `tests/escaping.rs` checks that both agree.

use super::text::{fnv1a, hex_digit, Text};
use super::{BODY_CAP, NAME_CAP};

/// A GBNF rule name (`[a-zA-Z0-9-]+`).
pub type Name = Text<NAME_CAP>;

/// Builds a rule name from `parts` joined by `-`, mapping every character GBNF does not allow
/// in names to `-`. A name longer than [`NAME_CAP`] becomes `h` plus a hash of the whole.
pub const fn name(parts: &[&str]) -> Name {
    let mut full = Text::<BODY_CAP>::new();
    let mut p = 0;
    while p < parts.len() {
        if p > 0 {
            full = full.byte(b'-');
        }
        let b = parts[p].as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let ok = c.is_ascii_alphanumeric() || c == b'-';
            let last_dash = full.len > 0 && full.buf[full.len - 1] == b'-';
            if ok {
                full = full.byte(c);
            } else if !last_dash {
                full = full.byte(b'-');
            }
            i += 1;
        }
        p += 1;
    }
    if full.len < NAME_CAP {
        return Name::from_str(full.as_str());
    }
    let h = fnv1a(full.as_bytes());
    let mut out = Name::new().byte(b'h');
    let mut shift = 64;
    while shift > 0 {
        shift -= 4;
        out = out.byte(hex_digit(((h >> shift) & 15) as u8));
    }
    out
}

/// The rule name of a user type: its identifier and a short hash of where it is defined.
pub const fn user_type_name(module_path: &str, ident: &str) -> Name {
    let h = fnv1a(module_path.as_bytes()) ^ fnv1a(ident.as_bytes()).rotate_left(17);
    let mut hex = Text::<8>::new();
    let mut shift = 24;
    while shift > 0 {
        shift -= 4;
        hex = hex.byte(hex_digit(((h >> shift) & 15) as u8));
    }
    name(&[ident, hex.as_str()])
}
