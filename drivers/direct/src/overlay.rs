//! The bytes written to an open file and not yet uploaded: non-overlapping extents by
//! offset. A write replaces what it covers; a truncate cuts; an uploaded part takes its
//! bytes out.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::ops::Range;

/// Written bytes by offset. Extents never overlap and are never empty.
#[derive(Debug, Default)]
pub struct Overlay {
    extents: BTreeMap<u64, Bytes>,
    bytes: u64,
}

/// A piece of a range: bytes the overlay holds, or a gap it does not.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Written bytes.
    Written(Bytes),
    /// Bytes the overlay does not hold (the base version's, or zeros).
    Gap(Range<u64>),
}

impl Overlay {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.extents.is_empty()
    }

    /// Stores `data` at `offset`, replacing what it covers.
    pub fn write(&mut self, offset: u64, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let end = offset + data.len() as u64;
        self.remove(offset..end);
        self.bytes += data.len() as u64;
        self.extents.insert(offset, data);
    }

    /// Drops every byte at or after `size`.
    pub fn cut(&mut self, size: u64) {
        self.remove(size..u64::MAX);
    }

    /// Removes the bytes of `range`, splitting extents that cross its ends.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        // The extent that starts before the range and may reach into it.
        if let Some((&o, b)) = self.extents.range(..range.start).next_back() {
            let e = o + b.len() as u64;
            if e > range.start {
                let b = b.clone();
                let keep = (range.start - o) as usize;
                self.extents.insert(o, b.slice(..keep));
                if e > range.end {
                    let tail = (range.end - o) as usize;
                    self.extents.insert(range.end, b.slice(tail..));
                }
                self.bytes -= e.min(range.end) - range.start;
            }
        }
        let inside: Vec<u64> = self.extents.range(range.clone()).map(|(o, _)| *o).collect();
        for o in inside {
            let Some(b) = self.extents.remove(&o) else {
                continue;
            };
            let e = o + b.len() as u64;
            if e > range.end {
                let tail = (range.end - o) as usize;
                self.extents.insert(range.end, b.slice(tail..));
                self.bytes -= range.end - o;
            } else {
                self.bytes -= b.len() as u64;
            }
        }
    }

    /// Whether any byte of `range` is held.
    pub fn touches(&self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        if let Some((&o, b)) = self.extents.range(..=range.start).next_back() {
            if o + b.len() as u64 > range.start {
                return true;
            }
        }
        self.extents.range(range).next().is_some()
    }

    /// Whether every byte of `range` is held.
    pub fn covers(&self, range: Range<u64>) -> bool {
        self.pieces(range)
            .iter()
            .all(|p| matches!(p, Piece::Written(_)))
    }

    /// `range` as written pieces and gaps, in order.
    pub fn pieces(&self, range: Range<u64>) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut at = range.start;
        let first = self
            .extents
            .range(..=range.start)
            .next_back()
            .map(|(o, _)| *o)
            .unwrap_or(range.start);
        for (&o, b) in self.extents.range(first..range.end) {
            let e = o + b.len() as u64;
            if e <= at {
                continue;
            }
            if o > at {
                out.push(Piece::Gap(at..o));
                at = o;
            }
            let to = e.min(range.end);
            out.push(Piece::Written(
                b.slice((at - o) as usize..(to - o) as usize),
            ));
            at = to;
        }
        if at < range.end {
            out.push(Piece::Gap(at..range.end));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, TestResult};

    /// The same operations on a plain byte map.
    fn model(ops: &[(bool, u16, u8, u8)]) -> (Overlay, Vec<Option<u8>>) {
        let mut o = Overlay::default();
        let mut m: Vec<Option<u8>> = vec![None; 1 << 12];
        for &(is_write, at, len, fill) in ops {
            let at = u64::from(at % 3000);
            let len = u64::from(len);
            if is_write {
                o.write(at, Bytes::from(vec![fill; len as usize]));
                for i in at..at + len {
                    m[i as usize] = Some(fill);
                }
            } else if fill % 4 == 0 {
                o.cut(at);
                for b in m.iter_mut().skip(at as usize) {
                    *b = None;
                }
            } else {
                o.remove(at..at + len);
                for i in at..at + len {
                    m[i as usize] = None;
                }
            }
        }
        (o, m)
    }

    quickcheck! {
        fn pieces_match_a_byte_map(ops: Vec<(bool, u16, u8, u8)>, from: u16, len: u16) -> TestResult {
            let (o, m) = model(&ops);
            let from = u64::from(from % 3500);
            let to = (from + u64::from(len % 600)).min(m.len() as u64);
            let mut at = from;
            for p in o.pieces(from..to) {
                match p {
                    Piece::Written(b) => {
                        for x in b.iter() {
                            if m[at as usize] != Some(*x) { return TestResult::failed(); }
                            at += 1;
                        }
                    }
                    Piece::Gap(r) => {
                        if r.start != at { return TestResult::failed(); }
                        for i in r.clone() {
                            if m[i as usize].is_some() { return TestResult::failed(); }
                        }
                        at = r.end;
                    }
                }
            }
            let held = m.iter().filter(|b| b.is_some()).count() as u64;
            TestResult::from_bool(at == to.max(from) && o.bytes() == held
                && o.touches(from..to) == m[from as usize..to as usize].iter().any(|b| b.is_some())
                && o.covers(from..to) == m[from as usize..to as usize].iter().all(|b| b.is_some()))
        }
    }

    #[test]
    fn writes_replace_what_they_cover_and_removes_split_extents() {
        let mut o = Overlay::default();
        o.write(0, Bytes::from_static(b"hello"));
        o.write(5, Bytes::from_static(b" world"));
        o.write(3, Bytes::from_static(b"LO"));
        assert_eq!(o.bytes(), 11);
        o.remove(2..4);
        assert_eq!(
            o.pieces(0..6),
            vec![
                Piece::Written(Bytes::from_static(b"he")),
                Piece::Gap(2..4),
                Piece::Written(Bytes::from_static(b"O")),
                Piece::Written(Bytes::from_static(b" ")),
            ]
        );
        assert!(!o.covers(0..11) && o.covers(4..11) && o.touches(1..3) && !o.touches(2..4));
        o.cut(4);
        assert_eq!(o.bytes(), 2);
        assert!(!o.is_empty());
    }
}
