//! Incremental UTF-8: token pieces are bytes, stream chunks are `String`s.
//!
//! A byte-level BPE token can end in the middle of a multi-byte character (emoji, accented
//! letters split across tokens). This module owns the few bytes carried from one token to the
//! next so every chunk handed to the caller is whole characters.

/// Bytes of an unfinished character, carried until the next token completes it.
#[derive(Debug, Default)]
pub(crate) struct Utf8Buffer {
    pending: Vec<u8>,
}

impl Utf8Buffer {
    /// Appends a token's bytes and returns every complete character so far.
    ///
    /// Bytes that can never become valid UTF-8 are replaced by U+FFFD rather than held forever.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // `valid` is a char boundary by definition of `valid_up_to`.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            // An incomplete character at the end: keep it for the next token.
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// True when no partial character is carried.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whatever is left at the end of the generation, with an unfinished character replaced.
    pub(crate) fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_multibyte_character_across_tokens() {
        let bytes = "é😀".as_bytes();
        let mut buf = Utf8Buffer::default();
        let mut chunks = Vec::new();
        for b in bytes {
            chunks.push(buf.push(std::slice::from_ref(b)));
        }
        assert_eq!(chunks.concat(), "é😀");
        assert_eq!(chunks[0], "");
        assert_eq!(chunks[1], "é");
        assert_eq!(buf.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut buf = Utf8Buffer::default();
        assert_eq!(buf.push(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn an_unfinished_character_at_the_end_is_flushed_lossily() {
        let mut buf = Utf8Buffer::default();
        assert_eq!(buf.push(&"😀".as_bytes()[..2]), "");
        assert_eq!(buf.finish(), "\u{fffd}");
    }
}
