//! The serial path's cost, in a QEMU guest (this machine has no UART traffic to trace and
//! no kprobes): a reader drains 2,000,000 bytes through ttyS1 while serial-trace records every
//! hook (`serial-cost`), and the same with the serial path unhooked (`serial-cost-unhooked`,
//! the recorder still running); the guest's busy CPU time over each flood is the cost.
//! Alternating order, one pair per boot. Peers cannot run in the guest (its initramfs holds
//! static binaries only; bpftrace and perf need their shared libraries), and TCG times are
//! emulated time: these numbers compare the two guest runs with each other, nothing else.

use anyhow::{Context, Result};

use crate::vm::{self, VmArgs};

pub const KERNEL: &str = "6.12";
const HOOKED: &str = "serial-cost";
const UNHOOKED: &str = "serial-cost-unhooked";

/// One flood: bytes that arrived and the guest's busy CPU time.
#[derive(Clone, Copy, Debug)]
pub struct Flood {
    pub bytes: u64,
    pub busy_s: f64,
}

impl Flood {
    pub fn ns_per_byte(&self) -> f64 {
        self.busy_s * 1e9 / self.bytes.max(1) as f64
    }
}

pub struct SerialCost {
    pub hooked: Vec<Flood>,
    pub unhooked: Vec<Flood>,
}

pub fn measure(boots: usize) -> Result<SerialCost> {
    let mut cost = SerialCost {
        hooked: Vec::new(),
        unhooked: Vec::new(),
    };
    for boot in 0..boots {
        let order = if boot % 2 == 0 {
            [UNHOOKED, HOOKED]
        } else {
            [HOOKED, UNHOOKED]
        };
        let results = vm::run_matrix(&VmArgs {
            kernels: vec![KERNEL.into()],
            scenarios: order.iter().map(|s| s.to_string()).collect(),
            cpus: 1,
            ..Default::default()
        })?;
        let dir = &results.first().context("no VM result")?.dir;
        let facts = vm::facts_in(dir)?;
        for sc in order {
            let f = facts.get(sc).with_context(|| {
                format!("the guest reported nothing for {sc}; see {}", dir.display())
            })?;
            let num = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok());
            let (Some(rx), Some(busy)) = (num("rx"), num("busy_cs")) else {
                anyhow::bail!(
                    "{sc}: no rx/busy_cs facts; see {}/console.log",
                    dir.display()
                );
            };
            let flood = Flood {
                bytes: rx,
                busy_s: busy as f64 / 100.0,
            };
            eprintln!(
                "xtask bench: boot {} {sc}: {} bytes, guest busy {:.2} s ({:.0} ns a byte)",
                boot + 1,
                flood.bytes,
                flood.busy_s,
                flood.ns_per_byte()
            );
            if sc == HOOKED {
                cost.hooked.push(flood);
            } else {
                cost.unhooked.push(flood);
            }
        }
    }
    Ok(cost)
}
