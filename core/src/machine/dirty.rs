//! An entry's dirty bytes, and what changed in them since the last snapshot.
//!
//! The index stores dirty extents as records of their own, keyed by offset, so a commit
//! writes only the extents that changed. [`DirtyRanges`] keeps the byte-exact map (range ->
//! generation of the write), the image the last snapshot handed to the index, and the byte
//! ranges touched since. [`DirtyRanges::take_delta`] compares the two images over the touched
//! ranges only: its cost is the number of extents near the changes, not of the entry.

use crate::ranges::{RangeMap, RangeSet};
use crate::records::DirtyExtent;
use std::ops::Range;

/// What one snapshot changes in the stored extents.
#[derive(Clone, Debug, Default)]
pub(crate) struct ExtentDelta {
    /// Extents to store (an extent at the same offset is replaced).
    pub put: Vec<DirtyExtent>,
    /// Offsets of stored extents to remove.
    pub delete: Vec<u64>,
    /// The stored image changes like this: each span is replaced by the ranges listed.
    pub spans: Vec<(Range<u64>, Vec<Range<u64>>)>,
}

impl ExtentDelta {
    /// Appends a later delta: applying the result equals applying both in order.
    pub fn extend(&mut self, later: ExtentDelta) {
        self.put.extend(later.put);
        self.delete.extend(later.delete);
        self.spans.extend(later.spans);
    }

    /// Applies the spans to a set of dirty bytes (the image the index holds).
    pub fn apply_to(&self, set: &mut RangeSet) {
        for (span, ranges) in &self.spans {
            set.remove(span.clone());
            for r in ranges {
                set.add(r.clone());
            }
        }
    }
}

/// Dirty byte ranges with the generation of the write that made them.
#[derive(Debug, Default)]
pub(crate) struct DirtyRanges {
    map: RangeMap<u64>,
    /// The extents as the last snapshot recorded them.
    recorded: RangeMap<u64>,
    /// Bytes changed since the last snapshot.
    touched: RangeSet,
}

impl std::ops::Deref for DirtyRanges {
    type Target = RangeMap<u64>;

    fn deref(&self) -> &RangeMap<u64> {
        &self.map
    }
}

impl DirtyRanges {
    /// Dirty ranges loaded from the index: recorded as they are.
    pub fn recorded(map: RangeMap<u64>) -> Self {
        DirtyRanges {
            recorded: map.clone(),
            map,
            touched: RangeSet::new(),
        }
    }

    /// True when nothing is dirty, nothing was recorded dirty and nothing changed since.
    pub fn is_pristine(&self) -> bool {
        self.map.is_empty() && self.recorded.is_empty() && self.touched.is_empty()
    }

    pub fn insert(&mut self, range: Range<u64>, generation: u64) {
        self.touched.add(range.clone());
        self.map.insert(range, generation);
    }

    /// Drops every dirty byte at or beyond `len`.
    pub fn truncate(&mut self, len: u64) {
        if let Some((last, _)) = self.map.iter().last() {
            self.touched.add(len.min(last.end)..last.end);
        }
        self.map.truncate(len);
    }

    /// Drops the ranges whose generation satisfies `pred`.
    pub fn remove_where(&mut self, mut pred: impl FnMut(u64) -> bool) {
        for (r, g) in self.map.iter() {
            if pred(g) {
                self.touched.add(r);
            }
        }
        self.map.remove_where(pred);
    }

    /// Drops every dirty byte.
    pub fn clear(&mut self) {
        self.remove_where(|_| true);
    }

    /// The changes since the last call, as index operations on extents; the current map
    /// becomes the recorded image.
    pub fn take_delta(&mut self) -> ExtentDelta {
        let mut delta = ExtentDelta::default();
        let touched: Vec<Range<u64>> = std::mem::take(&mut self.touched)
            .iter()
            .map(|(r, _)| r)
            .collect();
        // Every span is found, and compared, on the images as they are before any of them is
        // updated: `recorded` merges equal-valued neighbours, so an extent recorded for one
        // span could merge with an older extent of the next one (the same generation) and
        // hide that older extent's record from the next span's comparison.
        let mut spans = Vec::new();
        let mut done_to = 0;
        for t in touched {
            if t.end <= done_to {
                continue;
            }
            let span = self.span_around(t.start.max(done_to)..t.end);
            done_to = span.end;
            spans.push(span);
        }
        let mut news = Vec::with_capacity(spans.len());
        for span in spans {
            let old = self.recorded.around(span.clone());
            let new = self.map.around(span.clone());
            for (r, _) in &old {
                // An extent at the same offset in the new image replaces it.
                if !new.iter().any(|(n, _)| n.start == r.start) {
                    delta.delete.push(r.start);
                }
            }
            for (r, g) in &new {
                if !old.contains(&(r.clone(), *g)) {
                    delta.put.push(DirtyExtent {
                        offset: r.start,
                        len: r.end - r.start,
                        generation: *g,
                    });
                }
            }
            delta
                .spans
                .push((span.clone(), new.iter().map(|(r, _)| r.clone()).collect()));
            news.push((span, new));
        }
        for (span, new) in news {
            self.recorded.remove(span);
            for (r, g) in new {
                self.recorded.insert(r, g);
            }
        }
        delta
    }

    /// `range` widened until no extent of either image crosses its ends, so that both
    /// images can be compared extent by extent inside it.
    fn span_around(&self, range: Range<u64>) -> Range<u64> {
        let mut span = range;
        loop {
            let mut wider = span.clone();
            for (r, _) in self
                .recorded
                .around(span.clone())
                .into_iter()
                .chain(self.map.around(span.clone()))
            {
                wider.start = wider.start.min(r.start);
                wider.end = wider.end.max(r.end);
            }
            if wider == span {
                return span;
            }
            span = wider;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    /// Seed 33544: a write ends exactly where a recorded extent of the same generation
    /// starts, and a truncate in the same snapshot removes that extent: its record must go.
    #[test]
    fn a_span_ending_at_a_recorded_extent_of_the_same_generation() {
        let mut d = DirtyRanges::default();
        d.insert(124..345, 1);
        d.insert(345..353, 4);
        d.insert(353..506, 1);
        d.take_delta();
        d.insert(150..160, 4);
        d.insert(324..364, 4);
        d.truncate(345);
        let delta = d.take_delta();
        let mut stored: std::collections::BTreeMap<u64, (u64, u64)> =
            [(124, (221, 1)), (345, (8, 4)), (353, (153, 1))].into();
        for off in &delta.delete {
            stored.remove(off);
        }
        for x in &delta.put {
            stored.insert(x.offset, (x.len, x.generation));
        }
        let want: std::collections::BTreeMap<u64, (u64, u64)> = d
            .iter()
            .map(|(r, g)| (r.start, (r.end - r.start, g)))
            .collect();
        assert_eq!(stored, want);
    }

    quickcheck! {
        /// Applying the deltas to the stored extents, as the index does, gives the map.
        fn deltas_rebuild_the_map(steps: Vec<Vec<(u8, u8, u8, u8)>>) -> bool {
            let mut d = DirtyRanges::default();
            let mut stored: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
            let mut image = RangeSet::new();
            for step in steps {
                for (a, b, g, what) in step {
                    let (s, e) = (u64::from(a.min(b)), u64::from(a.max(b)));
                    match what % 4 {
                        0 | 1 => d.insert(s..e, u64::from(g % 3)),
                        2 => d.truncate(e),
                        _ => d.remove_where(|x| x == u64::from(g % 3)),
                    }
                }
                let delta = d.take_delta();
                for off in &delta.delete {
                    stored.remove(off);
                }
                for x in &delta.put {
                    stored.insert(x.offset, (x.len, x.generation));
                }
                delta.apply_to(&mut image);
                let want: Vec<(u64, (u64, u64))> =
                    d.iter().map(|(r, g)| (r.start, (r.end - r.start, g))).collect();
                let got: Vec<(u64, (u64, u64))> = stored.iter().map(|(k, v)| (*k, *v)).collect();
                let mut want_set = RangeSet::new();
                for (r, _) in d.iter() {
                    want_set.add(r);
                }
                if want != got || image != want_set {
                    return false;
                }
            }
            true
        }
    }
}
