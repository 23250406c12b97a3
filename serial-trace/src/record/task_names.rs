//! The `comm` of the events whose program left it out (`wire::COMM_OMITTED`): the task's last
//! `comm` in ring order. A program leaves it out only when its CPU's previous record was of
//! the same task, carried the name, and no task was renamed since (`TASK_NAMES_MAP`).

use std::collections::HashMap;

use serial_trace_common::{COMM_LEN, Event};

/// Each thread's last `comm`, as the ring's events go by.
#[derive(Default)]
pub struct TaskNames {
    last: HashMap<u32, [u8; COMM_LEN]>,
}

impl TaskNames {
    /// Fills in `ev`'s `comm` if its record left it out, else learns it.
    pub fn complete(&mut self, ev: &mut Event, omitted: bool) {
        let tid = ev.tid();
        if omitted {
            if let Some(comm) = self.last.get(&tid) {
                ev.comm = *comm;
            }
        } else {
            self.last.insert(tid, ev.comm);
        }
    }

    #[cfg(test)]
    /// Threads whose name is kept (every thread seen: the recorder is not told of exits;
    /// 20 bytes each).
    pub fn threads(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tid: u32, comm: &str) -> Event {
        let mut ev = Event::ZERO;
        ev.pid_tgid = (u64::from(tid) << 32) | u64::from(tid);
        ev.comm[..comm.len()].copy_from_slice(comm.as_bytes());
        ev
    }

    #[test]
    fn a_left_out_comm_is_the_threads_last() {
        let mut n = TaskNames::default();
        let mut a = event(7, "reader");
        n.complete(&mut a, false);
        let mut b = event(7, "");
        n.complete(&mut b, true);
        assert_eq!(&b.comm[..6], b"reader");
        // renamed: the next record carries the new name, and later ones get it
        let mut c = event(7, "reader-rx");
        n.complete(&mut c, false);
        let mut d = event(7, "");
        n.complete(&mut d, true);
        assert_eq!(&d.comm[..9], b"reader-rx");
        // another thread's name is not taken
        let mut e = event(8, "");
        n.complete(&mut e, true);
        assert_eq!(e.comm, [0; COMM_LEN]);
        assert_eq!(n.threads(), 1);
    }
}
