//! Byte-exact range maps. The dirty bytes of an entry are a [`RangeMap`] from byte range to
//! the generation of the write that produced them, so that a 4 KiB write dirties 4 KiB and an
//! upload of generation `g` can clean exactly the bytes still at generation `g` or older.

use std::collections::BTreeMap;
use std::ops::Range;

/// Non-overlapping half-open byte ranges, each carrying a value. Adjacent ranges with equal
/// values are merged, so the representation of a set of bytes is unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeMap<V> {
    // start -> (end, value); invariant: start < end, no overlaps, no equal-valued neighbours.
    map: BTreeMap<u64, (u64, V)>,
    // Bytes covered: the sum of `end - start` over `map`, kept by every change.
    covered: u64,
}

/// A set of byte ranges.
pub type RangeSet = RangeMap<()>;

impl<V: Copy + Eq> RangeMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        RangeMap {
            map: BTreeMap::new(),
            covered: 0,
        }
    }

    /// True when no byte is covered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of bytes covered.
    pub fn covered_len(&self) -> u64 {
        self.covered
    }

    /// Number of maximal ranges (equal-valued neighbours count as one).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The ranges in order, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (Range<u64>, V)> + '_ {
        self.map.iter().map(|(&s, &(e, v))| (s..e, v))
    }

    /// Sets `range` to `value`, replacing whatever covered it.
    pub fn insert(&mut self, range: Range<u64>, value: V) {
        if range.start >= range.end {
            return;
        }
        self.remove(range.clone());
        self.covered += range.end - range.start;
        let (mut start, mut end) = (range.start, range.end);
        // Merge with an equal-valued left neighbour ending exactly at `start`.
        if let Some((&ls, &(le, lv))) = self.map.range(..start).next_back() {
            if le == start && lv == value {
                self.map.remove(&ls);
                start = ls;
            }
        }
        if let Some(&(re, rv)) = self.map.get(&end) {
            if rv == value {
                self.map.remove(&end);
                end = re;
            }
        }
        self.map.insert(start, (end, value));
    }

    /// Removes every byte of `range`.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        // A range starting before `range.start` may overlap it.
        if let Some((&s, &(e, v))) = self.map.range(..range.start).next_back() {
            if e > range.start {
                self.map.insert(s, (range.start, v));
                if e > range.end {
                    self.map.insert(range.end, (e, v));
                    self.covered -= range.end - range.start;
                    return;
                }
                self.covered -= e - range.start;
            }
        }
        let inside: Vec<u64> = self
            .map
            .range(range.start..range.end)
            .map(|(&s, _)| s)
            .collect();
        for s in inside {
            if let Some((e, v)) = self.map.remove(&s) {
                if e > range.end {
                    self.map.insert(range.end, (e, v));
                }
                self.covered -= e.min(range.end) - s;
            }
        }
    }

    /// The covered pieces of `range`, clipped to it.
    pub fn overlapping(&self, range: Range<u64>) -> Vec<(Range<u64>, V)> {
        let mut out = Vec::new();
        if range.start >= range.end {
            return out;
        }
        if let Some((_, &(e, v))) = self.map.range(..range.start).next_back() {
            if e > range.start {
                out.push((range.start..e.min(range.end), v));
            }
        }
        for (&s, &(e, v)) in self.map.range(range.start..range.end) {
            out.push((s..e.min(range.end), v));
        }
        out
    }

    /// The whole ranges (not clipped) that overlap `range`, with their values.
    pub fn around(&self, range: Range<u64>) -> Vec<(Range<u64>, V)> {
        let mut out = Vec::new();
        if range.start >= range.end {
            return out;
        }
        if let Some((&s, &(e, v))) = self.map.range(..range.start).next_back() {
            if e > range.start {
                out.push((s..e, v));
            }
        }
        for (&s, &(e, v)) in self.map.range(range.start..range.end) {
            out.push((s..e, v));
        }
        out
    }

    /// True when any byte of `range` is covered.
    pub fn intersects(&self, range: Range<u64>) -> bool {
        !self.overlapping(range).is_empty()
    }

    /// True when every byte of `range` is covered.
    pub fn covers(&self, range: Range<u64>) -> bool {
        self.gaps(range).is_empty()
    }

    /// The uncovered pieces of `range`.
    pub fn gaps(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut at = range.start;
        for (r, _) in self.overlapping(range.clone()) {
            if r.start > at {
                out.push(at..r.start);
            }
            at = r.end;
        }
        if at < range.end {
            out.push(at..range.end);
        }
        out
    }

    /// The first uncovered piece of `range` (costs the ranges before it, not all of them).
    pub fn first_gap(&self, range: Range<u64>) -> Option<Range<u64>> {
        if range.start >= range.end {
            return None;
        }
        let mut at = range.start;
        if let Some((_, &(e, _))) = self.map.range(..range.start).next_back() {
            at = at.max(e);
        }
        for (&s, &(e, _)) in self.map.range(range.start..range.end) {
            if s > at {
                return Some(at..s.min(range.end));
            }
            at = at.max(e);
        }
        (at < range.end).then_some(at..range.end)
    }

    /// Removes every byte at or beyond `len`.
    pub fn truncate(&mut self, len: u64) {
        self.remove(len..u64::MAX);
    }

    /// Removes the ranges whose value satisfies `pred`.
    pub fn remove_where(&mut self, mut pred: impl FnMut(V) -> bool) {
        let doomed: Vec<Range<u64>> = self
            .iter()
            .filter(|(_, v)| pred(*v))
            .map(|(r, _)| r)
            .collect();
        for r in doomed {
            self.remove(r);
        }
    }

    /// The value at byte `at`, if covered.
    pub fn get(&self, at: u64) -> Option<V> {
        self.overlapping(at..at + 1).first().map(|(_, v)| *v)
    }
}

impl RangeSet {
    /// Adds `range` to the set.
    pub fn add(&mut self, range: Range<u64>) {
        self.insert(range, ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, TestResult};

    /// Reference: one value slot per byte in a small universe.
    fn apply(ops: &[(u8, u8, u8, bool)]) -> (RangeMap<u8>, Vec<Option<u8>>) {
        let mut m = RangeMap::new();
        let mut r = vec![None; 256];
        for &(a, b, v, ins) in ops {
            let (s, e) = (a.min(b) as u64, a.max(b) as u64);
            if ins {
                m.insert(s..e, v % 4);
                for x in s..e {
                    r[x as usize] = Some(v % 4);
                }
            } else {
                m.remove(s..e);
                for x in s..e {
                    r[x as usize] = None;
                }
            }
        }
        (m, r)
    }

    quickcheck! {
        fn matches_per_byte_model(ops: Vec<(u8, u8, u8, bool)>) -> bool {
            let (m, r) = apply(&ops);
            (0..256u64).all(|x| m.get(x) == r[x as usize])
        }

        fn covered_len_counts_covered_bytes(ops: Vec<(u8, u8, u8, bool)>) -> bool {
            let (m, r) = apply(&ops);
            m.covered_len() == r.iter().filter(|v| v.is_some()).count() as u64
        }

        fn canonical_no_overlap_no_equal_neighbours(ops: Vec<(u8, u8, u8, bool)>) -> bool {
            let (m, _) = apply(&ops);
            let v: Vec<_> = m.iter().collect();
            v.iter().all(|(r, _)| r.start < r.end)
                && v.windows(2).all(|w| w[0].0.end < w[1].0.start || (w[0].0.end == w[1].0.start && w[0].1 != w[1].1))
        }

        fn gaps_and_overlaps_partition(ops: Vec<(u8, u8, u8, bool)>, a: u8, b: u8) -> TestResult {
            let (m, r) = apply(&ops);
            let (s, e) = (a.min(b) as u64, a.max(b) as u64);
            let covered: u64 = m.overlapping(s..e).iter().map(|(x, _)| x.end - x.start).sum();
            let gaps: u64 = m.gaps(s..e).iter().map(|x| x.end - x.start).sum();
            let expect = (s..e).filter(|&x| r[x as usize].is_some()).count() as u64;
            TestResult::from_bool(covered == expect && covered + gaps == e - s)
        }

        fn first_gap_is_the_first_of_gaps(ops: Vec<(u8, u8, u8, bool)>, a: u8, b: u8) -> bool {
            let (m, _) = apply(&ops);
            let (s, e) = (a.min(b) as u64, a.max(b) as u64);
            m.first_gap(s..e) == m.gaps(s..e).first().cloned()
        }

        fn remove_where_removes_only_matching(ops: Vec<(u8, u8, u8, bool)>, g: u8) -> bool {
            let (mut m, r) = apply(&ops);
            let g = g % 4;
            m.remove_where(|v| v <= g);
            (0..256u64).all(|x| m.get(x) == r[x as usize].filter(|&v| v > g))
        }
    }

    #[test]
    fn merge_adjacent_equal_values() {
        let mut m = RangeMap::new();
        m.insert(0..10, 1u64);
        m.insert(10..20, 1);
        m.insert(20..30, 2);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(0..20, 1), (20..30, 2)]);
        m.remove(5..25);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(0..5, 1), (25..30, 2)]);
        assert_eq!(m.covered_len(), 10);
    }
}
