//! Time series for the timeline renderers (HTML, SVG, trace-event export) and the JSON
//! `timeline` key: values summed or maxed into fixed buckets of CLOCK_BOOTTIME. Sparse: an empty
//! bucket takes no memory, so a long quiet recording stays small.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

/// Width of one timeline bucket.
pub const BUCKET_NS: u64 = 100_000_000;

/// One lane of the timeline: bucket start (boottime ns) → value, sorted by bucket. A sorted
/// vector, not a tree: events come in time order, so nearly every one lands in the last bucket
/// or opens the next (one tree search per event was a tenth of a report's time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    points: Vec<(u64, u64)>,
}

impl Series {
    fn bucket(boot_ns: u64) -> u64 {
        boot_ns - boot_ns % BUCKET_NS
    }

    /// The value of the bucket holding `boot_ns`, created at 0.
    fn slot(&mut self, boot_ns: u64) -> &mut u64 {
        let b = Self::bucket(boot_ns);
        let i = match self.points.last() {
            Some(&(last, _)) if last == b => self.points.len() - 1,
            Some(&(last, _)) if last > b => match self.points.binary_search_by_key(&b, |p| p.0) {
                Ok(i) => i,
                Err(i) => {
                    self.points.insert(i, (b, 0));
                    i
                }
            },
            _ => {
                self.points.push((b, 0));
                self.points.len() - 1
            }
        };
        &mut self.points[i].1
    }

    /// Adds `v` to the bucket holding `boot_ns`.
    pub fn add(&mut self, boot_ns: u64, v: u64) {
        let slot = self.slot(boot_ns);
        *slot = slot.saturating_add(v);
    }

    /// Keeps the largest value seen in the bucket holding `boot_ns`.
    pub fn max(&mut self, boot_ns: u64, v: u64) {
        let e = self.slot(boot_ns);
        *e = (*e).max(v);
    }

    /// Keeps the buckets that overlap `[from, to]` (boottime).
    pub fn crop(&mut self, from: u64, to: u64) {
        self.points
            .retain(|&(b, _)| b.saturating_add(BUCKET_NS) > from && b <= to);
    }

    /// `(bucket start boottime ns, value)` in time order.
    pub fn points(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.points.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// Serialized as `[[t_boot_ns, value], …]`.
impl Serialize for Series {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.points.iter().map(|(t, v)| [*t, *v]))
    }
}

/// Read back from `[[t_boot_ns, value], …]`.
impl<'de> Deserialize<'de> for Series {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<[u64; 2]>::deserialize(d)?;
        // sorted, one value per bucket (the last), whatever the input's order
        let by_bucket: BTreeMap<u64, u64> = pairs.into_iter().map(|[t, v]| (t, v)).collect();
        Ok(Series {
            points: by_bucket.into_iter().collect(),
        })
    }
}

/// Bytes over time on one port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PortSeries {
    pub name: String,
    /// Bytes handed to the line discipline per bucket.
    pub received: Series,
    /// Bytes the flip buffer refused per bucket (a drop run counts at its last drop).
    pub dropped: Series,
}

/// The `timeline` object of the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub bucket_ns: u64,
    /// Recording start and end (or last event), CLOCK_BOOTTIME.
    pub start_boot_ns: u64,
    pub end_boot_ns: u64,
    pub ports: Vec<PortSeries>,
    /// Largest hrtimer lateness (own clock) of the expiries in each bucket.
    pub timer_lateness_max: Series,
    /// Task-visible timer wakeups per bucket.
    pub wakeups: Series,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_sum_and_max_sparsely() {
        let mut s = Series::default();
        s.add(50, 3);
        s.add(BUCKET_NS - 1, 4);
        s.add(5 * BUCKET_NS + 7, 1);
        assert_eq!(s.points().collect::<Vec<_>>(), [(0, 7), (5 * BUCKET_NS, 1)]);
        let mut m = Series::default();
        m.max(10, 5);
        m.max(20, 2);
        assert_eq!(m.points().collect::<Vec<_>>(), [(0, 5)]);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("[[0,7],[{},1]]", 5 * BUCKET_NS)
        );
    }

    #[test]
    fn events_out_of_order_land_in_their_own_buckets() {
        // another CPU's event a bucket behind, and one before every bucket so far
        let mut s = Series::default();
        for (t, v) in [(3, 1), (2, 1), (5, 1), (3, 1), (0, 1), (5, 1), (4, 1)] {
            s.add(t * BUCKET_NS + 9, v);
        }
        let at = |b: u64| b * BUCKET_NS;
        assert_eq!(
            s.points().collect::<Vec<_>>(),
            [(at(0), 1), (at(2), 1), (at(3), 2), (at(4), 1), (at(5), 2)]
        );
        // read back from JSON in any order: sorted, the last value of a bucket kept
        let back: Series = serde_json::from_str("[[300,1],[100,2],[300,4]]").unwrap();
        assert_eq!(back.points().collect::<Vec<_>>(), [(100, 2), (300, 4)]);
    }
}
