//! Output kept up to a limit, so a chatty command cannot exhaust memory.

/// A byte stream kept up to a limit: its first bytes (`head`) or its last
/// whole lines (`tail`). What does not fit is counted, not stored, so a chatty
/// command cannot exhaust memory. Text is decoded once at the end, so a
/// character split across chunks stays whole.
#[derive(Debug, Clone)]
pub struct Capped {
    kept: Vec<u8>,
    limit: usize,
    keep_tail: bool,
    dropped: u64,
}

impl Capped {
    pub fn head(limit: usize) -> Capped {
        Capped {
            kept: Vec::new(),
            limit,
            keep_tail: false,
            dropped: 0,
        }
    }

    pub fn tail(limit: usize) -> Capped {
        Capped {
            keep_tail: true,
            ..Capped::head(limit)
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if !self.keep_tail {
            let room = self.limit.saturating_sub(self.kept.len()).min(bytes.len());
            self.kept.extend_from_slice(&bytes[..room]);
            self.dropped += (bytes.len() - room) as u64;
            return;
        }
        self.kept.extend_from_slice(bytes);
        // Trim in batches: at most twice the limit is ever held.
        if self.kept.len() > self.limit.saturating_mul(2) {
            self.trim_front();
        }
    }

    fn trim_front(&mut self) {
        let excess = self.kept.len().saturating_sub(self.limit);
        self.kept.drain(..excess);
        self.dropped += excess as u64;
    }

    /// The kept text (invalid UTF-8 replaced) and the number of bytes dropped.
    /// A head cut ends on a character boundary; a tail cut starts on a whole line.
    pub fn finish(mut self) -> (String, u64) {
        if self.keep_tail {
            self.trim_front();
            if self.dropped > 0 {
                let partial = self
                    .kept
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(self.kept.len(), |i| i + 1);
                self.kept.drain(..partial);
                self.dropped += partial as u64;
            }
        } else if self.dropped > 0 {
            // Do not end inside a multi-byte character.
            let valid = match std::str::from_utf8(&self.kept) {
                Ok(_) => self.kept.len(),
                Err(err) if err.error_len().is_none() => err.valid_up_to(),
                Err(_) => self.kept.len(),
            };
            self.dropped += (self.kept.len() - valid) as u64;
            self.kept.truncate(valid);
        }
        (
            String::from_utf8_lossy(&self.kept).into_owned(),
            self.dropped,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Capped;

    #[test]
    fn head_keeps_the_first_bytes_and_counts_the_rest() {
        let mut capped = Capped::head(10);
        capped.push(b"0123456");
        capped.push(b"789abcdef");
        capped.push(b"ghij");
        assert_eq!(capped.finish(), ("0123456789".to_owned(), 10));
        let mut small = Capped::head(10);
        small.push(b"short");
        assert_eq!(small.finish(), ("short".to_owned(), 0));
    }

    #[test]
    fn head_never_ends_inside_a_character() {
        let mut capped = Capped::head(4);
        // "abc" + the first byte of "é" fits; that byte is dropped too.
        capped.push("abcé!".as_bytes());
        assert_eq!(capped.finish(), ("abc".to_owned(), 3));
    }

    #[test]
    fn tail_keeps_the_newest_whole_lines() {
        let mut capped = Capped::tail(12);
        for i in 0..100 {
            capped.push(format!("line {i:02}\n").as_bytes());
        }
        let (text, dropped) = capped.finish();
        assert_eq!(text, "line 99\n");
        assert_eq!(dropped, 800 - 8);
        let mut all = Capped::tail(100);
        all.push(b"a\nb\n");
        assert_eq!(all.finish(), ("a\nb\n".to_owned(), 0));
    }
}
