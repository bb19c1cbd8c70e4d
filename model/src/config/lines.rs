//! Where each value of a JSON text starts: JSON pointer → line (1-based),
//! so an editor can show a validation issue at its line. A small scanner
//! of its own: serde_json keeps no positions in a `Value`.

use std::collections::BTreeMap;

/// The line of every value in `text` by its pointer (`""` is the root).
/// Scanning stops at the first syntax error; what was seen is kept.
pub fn pointer_lines(text: &str) -> BTreeMap<String, u32> {
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
        line: 1,
        out: BTreeMap::new(),
        depth: 0,
    };
    let _ = s.value(String::new());
    s.out
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    line: u32,
    out: BTreeMap<String, u32>,
    depth: u32,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self, at: String) -> Option<()> {
        self.ws();
        self.out.insert(at.clone(), self.line);
        // Deep nesting is refused rather than recursed into.
        if self.depth > 128 {
            return None;
        }
        match self.peek()? {
            b'{' => {
                self.depth += 1;
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    let esc = key.replace('~', "~0").replace('/', "~1");
                    self.value(format!("{at}/{esc}"))?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            self.depth -= 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.depth += 1;
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                let mut n = 0usize;
                loop {
                    self.value(format!("{at}/{n}"))?;
                    n += 1;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            self.depth -= 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(drop),
            _ => {
                // A number or a literal: up to the next delimiter.
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }

    /// A string literal, unescaped.
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' if !escaped => escaped = true,
                b'"' if !escaped => {
                    let raw = &self.b[start - 1..self.i];
                    return serde_json::from_slice::<String>(raw).ok();
                }
                b'\n' => return None,
                _ => escaped = false,
            }
        }
        None
    }
}
