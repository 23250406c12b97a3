//! Entries the kernel evicted from the programs' LRU state maps (who armed a timer, whose
//! wakeup is pending, a serial call's entry state), which it does silently when a map is
//! full. The programs count the keys they add and remove (`STATE_COUNTS`); once they are
//! detached, added − removed − keys left = evicted.

use std::collections::BTreeMap;

use aya::Ebpf;
use aya::maps::{HashMap, Map, MapData, PerCpuArray};
use serial_trace_common::{CallState, STATE_COUNTS_MAP, state_counts};

use crate::trace::StateLoss;

/// The state maps and their counters, taken out of the loaded object so that they outlive
/// the programs (counted after detaching, when nothing changes them any more).
pub struct StateMaps {
    counts: Option<PerCpuArray<MapData, u64>>,
    /// Per map (a `state_counts` index): its keys counted, or why they could not be.
    maps: Vec<(usize, Option<Map>)>,
}

impl StateMaps {
    pub fn take(ebpf: &mut Ebpf) -> Self {
        let counts = ebpf
            .take_map(STATE_COUNTS_MAP)
            .and_then(|m| PerCpuArray::try_from(m).ok());
        let maps = state_counts::MAPS
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (i, ebpf.take_map(name)))
            .collect();
        Self { counts, maps }
    }

    /// Per map with anything to say: entries evicted and inserts refused.
    pub fn losses(self) -> BTreeMap<String, StateLoss> {
        let Some(counts) = &self.counts else {
            return BTreeMap::new();
        };
        let slot = |map: usize, what: u32| -> u64 {
            let i = map as u32 * state_counts::WHATS + what;
            counts.get(&i, 0).map_or(0, |v| v.iter().sum())
        };
        let mut out = BTreeMap::new();
        for (i, map) in self.maps {
            let added = slot(i, state_counts::ADDED);
            let removed = slot(i, state_counts::REMOVED);
            let left = match map {
                Some(map) => count_keys(i, map),
                // a plain hash (read by the checkpoints, so not here) evicts nothing
                None if i as u32 == state_counts::LDISC_AGGREGATES => {
                    Some(added.saturating_sub(removed))
                }
                None => None,
            };
            let Some(left) = left else {
                continue;
            };
            let loss = StateLoss {
                evicted: evicted(added, removed, left),
                refused: slot(i, state_counts::FAILED),
            };
            if loss.evicted > 0 || loss.refused > 0 {
                out.insert(state_counts::MAPS[i].0.to_string(), loss);
            }
        }
        out
    }
}

/// Keys added − removed − left: what the kernel took out on its own. Never negative (a key
/// added before the counters were read at start would make it so).
fn evicted(added: u64, removed: u64, left: u64) -> u64 {
    added.saturating_sub(removed).saturating_sub(left)
}

/// The keys in state map `index` (types as declared in the eBPF crate).
fn count_keys(index: usize, map: Map) -> Option<u64> {
    fn keys<K: aya::Pod, V: aya::Pod>(map: Map) -> Option<u64> {
        let m: HashMap<MapData, K, V> = HashMap::try_from(map).ok()?;
        Some(m.keys().filter(|k| k.is_ok()).count() as u64)
    }
    match index as u32 {
        state_counts::TRACKED => keys::<u64, u8>(map),
        state_counts::OWNER => keys::<u64, u32>(map),
        state_counts::PENDING => keys::<u32, u8>(map),
        state_counts::LAST_WOKEN => keys::<u64, u64>(map),
        state_counts::TREE => keys::<u32, u8>(map),
        state_counts::CALLS => keys::<u64, CallState>(map),
        state_counts::WORK_TIMES => keys::<u64, serial_trace_common::WorkTimes>(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicted_is_added_minus_removed_minus_left() {
        assert_eq!(evicted(100, 40, 50), 10);
        assert_eq!(evicted(100, 40, 60), 0);
        assert_eq!(evicted(10, 40, 0), 0);
    }
}
