//! The scenarios run inside each guest, each recorded by `serial-trace record`, and the
//! generated `/init` that runs them. The guest reports what it did as console lines
//! `@@ST FACT <scenario> key=value …` (the ground truth the checks compare against) and asks the
//! host for serial traffic with `@@ST FLOOD <bytes>`.

use super::arch::Arch;

/// One scenario: a shell function body run while a recording is active.
pub struct Scenario {
    pub id: &'static str,
    pub about: &'static str,
    /// Body of the guest shell function. Must emit `fact rtc_cycles=N pm_test_cycles=M`.
    pub body: &'static str,
    /// Extra `serial-trace record` arguments.
    pub record_args: &'static str,
    /// Part of the default matrix (`cargo xtask vm`, CI); others run only when named.
    pub in_matrix: bool,
    /// Needs Debian's Python and the standard library its script loads in the guest
    /// (`guest::add_python`).
    pub python: bool,
    /// Shell run before the recorder starts (e.g. loading the drivers of a port the recorder
    /// is told to watch with `--port`); empty for most.
    pub prepare: &'static str,
    /// Which kernels of the default matrix run it (named with `--scenario`, or with `--full`,
    /// it runs on every kernel booted).
    pub on_kernels: OnKernels,
}

/// Where a matrix scenario adds coverage, so CI's budget is spent there only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnKernels {
    All,
    /// These kernels only, by label (`6.12`, `arm64-5.10`).
    Only(&'static [&'static str]),
    /// Kernels whose serial hooks default to fentry/fexit: on the others the default run
    /// already uses kprobes.
    FentryDefault,
}

impl Scenario {
    /// Whether the default matrix runs this scenario on kernel `label` whose image is
    /// `version`, on `arch`.
    pub fn runs_on(&self, arch: Arch, label: &str, version: &str) -> bool {
        match self.on_kernels {
            OnKernels::All => true,
            OnKernels::Only(labels) => labels.contains(&label),
            OnKernels::FentryDefault => arch.default_serial_method(version) != "kprobe",
        }
    }
}

/// Loops the `cyclictest` scenario asks for (its `-l`).
pub const CYCLICTEST_LOOPS: usize = 900;

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "suspend",
        about: "2 real S3 cycles woken by the RTC alarm, then pm_test cycles at the devices and platform levels; ftrace beside the recorder prints every device PM callback",
        body: r#"
    # what sysfs says of the settings the trace header keeps (its `system`)
    fact clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) \
        unstable_cs_after=$(unstable_clocksources) \
        wakeup_enabled=$(find /sys/devices -path '*/power/wakeup' -exec cat {} \; 2>/dev/null | grep -c '^enabled$')
    # the kernel's own record of every device PM callback, the witness of the names the
    # recorder's programs read (dev_name, dev_driver_string)
    T=/sys/kernel/tracing
    echo 4096 > $T/buffer_size_kb
    echo > $T/trace
    echo 1 > $T/events/power/device_pm_callback_start/enable
    full=0; partial=0
    for i in 1 2; do sleep 1; mem_cycle 3 && full=$((full+1)); done
    for lvl in devices platform; do sleep 1; pm_test_cycle $lvl 0 && partial=$((partial+1)); done
    echo 0 > $T/events/power/device_pm_callback_start/enable
    grep ' device_pm_callback_start: ' $T/trace > /tmp/suspend.pm-ftrace.log
    fact rtc_cycles=$full pm_test_cycles=$partial pm_ftrace_overrun=$(grep -h '^overrun' $T/per_cpu/cpu*/stats | awk '{s+=$2} END {print s+0}')
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        // the clocksources marked unstable before the recorder read them (the header's)
        prepare: r#"
    fact unstable_cs_before=$(unstable_clocksources)"#,
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "timers",
        about: "threads sleeping on CLOCK_MONOTONIC and CLOCK_BOOTTIME (clock_nanosleep, timerfd, and a timerfd armed by one thread and waited on in epoll_wait by another) every 200 ms across one S3 cycle, and one 1 s monotonic timerfd armed just before it; first, 1 s of a 10 ms POSIX timer whose signal is ignored",
        body: r#"
    timer-workload --clock both --api all --interval-us 200000 --duration-s 8 \
        --log /tmp/timers.wakeups.jsonl > /tmp/timers.workload.json & WL=$!
    # a periodic POSIX timer whose signal is ignored: re-armed by its own callback, in
    # interrupt context (kernels before 6.13)
    # ftrace beside the recorder counts its expiries: under TCG an expiry later than the
    # interval makes the kernel's hrtimer_forward skip periods, so it fires fewer than --count
    T=/sys/kernel/tracing
    echo > $T/trace
    echo 1 > $T/events/timer/hrtimer_expire_entry/enable
    posix-timer --interval-ms 10 --count 100 > /tmp/timers.posix-timer.json
    echo 0 > $T/events/timer/hrtimer_expire_entry/enable
    grep 'function=posix_timer_fn' $T/trace > /tmp/timers.posix-ftrace.log
    sleep 1; full=0
    # one timer certain to span the moment time stops: a 1 s monotonic timerfd armed just
    # before the cycle (the 200 ms ones span it only when a deadline falls after that moment;
    # the freezer ends the monotonic sleeps, so only their timerfds can)
    timer-workload --clock monotonic --api timerfd --interval-us 1000000 --duration-s 0.5 \
        --log /tmp/timers.span.jsonl > /dev/null & SPAN=$!
    sleep 0.2
    mem_cycle 3 && full=1
    wait $SPAN; span_rc=$?
    wait $WL; rc=$?
    [ $rc -eq 0 ] && rc=$span_rc
    cat /tmp/timers.span.jsonl >> /tmp/timers.wakeups.jsonl
    fact rtc_cycles=$full pm_test_cycles=0 workload_rc=$rc
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        // `record -- CMD` before the scenario's own recorder starts: a shell's timer-workload
        // (a thread per API) is CMD's process tree, and nothing else may be in its trace
        prepare: r#"
    serial-trace record --quiet --hooks timer -o /tmp/timers.tree.trace -- sh -c \
        'timer-workload --clock monotonic --api all --interval-us 20000 --duration-s 1 > /tmp/timers.tree-workload.json' \
        2> /tmp/timers.tree.log
    fact tree_rc=$?"#,
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "event-loop",
        about: "an event loop's sleeps every 10 ms on CLOCK_MONOTONIC (clock_nanosleep, timerfd, epoll_wait's own timeout) and every 400 ms (two timerfds, 200 ms apart, each armed by one thread and waited on in epoll_wait by another) across a 3 s pm_test freezer cycle and an S3 cycle",
        body: r#"
    # two epoll-pairs 200 ms apart: a pair whose deadline falls in the freezer's first sweep
    # has its waiter run and its armer frozen before re-arming (nothing then spans the
    # cycle; 6.1, about 1 cycle in 30): at most one of the two can be there
    timer-workload --clock monotonic --api all --interval-us 10000 --pair-interval-us 400000 \
        --pairs 2 --duration-s 14 --log /tmp/event-loop.wakeups.jsonl > /tmp/event-loop.workload.json & WL=$!
    cycles_around $WL
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "cyclictest",
        about: "rt-tests' cyclictest, a program this project did not write: one SCHED_FIFO thread sleeping every 10 ms with clock_nanosleep(TIMER_ABSTIME) on CLOCK_MONOTONIC, printing every latency it measured, across a 3 s pm_test freezer cycle and an S3 cycle",
        body: r#"
    cyclictest -t1 -p 80 -i 10000 -l 900 -v -q > /tmp/cyclictest.latencies.log 2>&1 & CT=$!
    cycles_around $CT
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "asyncio",
        about: "a Python service (Debian's CPython, a runtime this project did not write): asyncio's timer every 10 ms on the main thread's event loop, asyncio.wait_for timing out every 200 ms on a second thread's loop, time.sleep every 50 ms on a heartbeat thread, each logging when it fired, across a 3 s pm_test freezer cycle and an S3 cycle",
        body: r#"
    python3 -S /bin/asyncio_service.py --duration-s 16 --log /tmp/asyncio.wakeups.jsonl \
        --ready-file /tmp/asyncio.ready > /tmp/asyncio.workload.json & WL=$!
    # importing asyncio takes seconds under TCG: the cycles start once every thread sleeps
    for i in $(seq 300); do [ -e /tmp/asyncio.ready ] && break; sleep 0.1; done
    cycles_around $WL
"#,
        record_args: "",
        in_matrix: true,
        python: true,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "flood",
        about: "ttyS1 held open and never read while the host writes 2,000,000 bytes",
        body: r#"
    unread_flood 2000000
    fact rtc_cycles=0 pm_test_cycles=0
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "flood-read",
        about: "as flood, with a reader draining ttyS1 (the reader fix): `serial-trace diff flood.trace flood-read.trace` must show the drops going away, by the kernel's counts; the port set to 115200 raw VMIN 1 VTIME 0 without flow control and held open before recording, then changed by stty to VMIN 0 VTIME 5 while recording",
        body: r#"
    irq0=$(irq_count $PORT_IRQ)
    reader_flood 2000000
    # a change while recording, by a program this project did not write (after the flood: a
    # reader under VMIN 0 takes a quiet moment for the end of the file)
    stty -F /dev/$PORT min 0 time 5 & CH=$!; wait $CH
    fact settings_changed_by=$CH settings_end=$(stty -F /dev/$PORT -g) irq_while_recording=$(( $(irq_count $PORT_IRQ) - irq0 ))
    # the holder outlives the recorder, whose stop reads the settings of the ports in use
    AFTER_REC='fact irq_around_recording=$(( $(irq_count $PORT_IRQ) - IRQ_BEFORE )); kill $SETTINGS_HOLD'
    fact rtc_cycles=0 pm_test_cycles=0
"#,
        // the per-run events too: the timeline, and the aggregates' other path
        record_args: "--port-timing-events",
        in_matrix: true,
        python: false,
        // known settings, and a holder, before the recorder starts: the header's reading
        prepare: r#"
    stty -F /dev/$PORT 115200 raw -echo -ixon -ixoff -crtscts min 1 time 0
    sleep 100000 < /dev/$PORT & SETTINGS_HOLD=$!
    d=/sys/class/tty/$PORT
    PORT_IRQ=$(cat $d/irq); IRQ_BEFORE=$(irq_count $PORT_IRQ)
    fact settings_start=$(stty -F /dev/$PORT -g) settings_holder=$SETTINGS_HOLD \
        port_irq=$PORT_IRQ port_flags=$(cat $d/flags) port_fifo=$(cat $d/xmit_fifo_size) port_wakeup=$(cat $d/power/wakeup 2>/dev/null || echo none)"#,
        on_kernels: OnKernels::Only(&["6.12", "arm64-6.12"]),
    },
    Scenario {
        id: "flood-kprobe",
        about: "as flood, with the serial hooks forced to kprobes, serial hooks only, ttyS1 only",
        body: r#"
    unread_flood 2000000
    fact rtc_cycles=0 pm_test_cycles=0
"#,
        record_args: "--serial-method kprobe --hooks serial --port $PORT",
        in_matrix: true,
        python: false,
        prepare: "",
        on_kernels: OnKernels::FentryDefault,
    },
    Scenario {
        id: "flood-pci",
        about: "the 8250 UART on PCI (QEMU's pci-serial: 8250_pci, as on boards' PCIe UART cards) held open and never read while the host writes 1,500,000 bytes",
        body: r#"
    PORT=$PCI_PORT; FLOOD_TO=pci
    if [ -z "$PORT" ]; then ST ERROR "$SCEN: no 8250 port on PCI"; return; fi
    unread_flood 1500000
    fact rtc_cycles=0 pm_test_cycles=0
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "flood-kill",
        about: "as flood with 1,500,000 bytes; 5 s after the drops stopped the recorder is killed with SIGKILL: the trace must still hold every drop, and every handler run of the port's interrupt (the kernel's aggregates at the last checkpoint)",
        body: r#"
    # the port's interrupts from before the flood to the kill: the last checkpoint before it
    # (the flood ended 5 s earlier) must hold every handler run the kernel aggregated. Counted
    # while a holder keeps the port open: with the port closed its IRQ is freed, and the
    # guest's /proc/interrupts read the same before and after a flood (seen on 6.12: 0 counted).
    sleep 100000 </dev/$PORT & KEEP_OPEN=$!
    sleep 0.2
    PORT_IRQ=$(cat /sys/class/tty/$PORT/irq); irq0=$(irq_count $PORT_IRQ)
    unread_flood 1500000
    sleep 5
    irq1=$(irq_count $PORT_IRQ)
    kill -9 $REC; wait $REC; killed_rc=$?
    kill $KEEP_OPEN
    fact rtc_cycles=0 pm_test_cycles=0 killed_rc=$killed_rc port_irq=$PORT_IRQ irq_while_recording=$((irq1 - irq0))
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "flood-suspend",
        about: "a reader drains ttyS1 while the host writes 3,000,000 bytes; a 40 s freezer cycle (reader frozen, UART awake) interrupts it, repeated (at most 3) until the kernel counted drops; once all bytes arrived, a real S3 cycle",
        body: r#"
    serial_raw /dev/$PORT
    fact port_wakeup=$(cat /sys/class/tty/$PORT/power/wakeup 2>/dev/null || echo none)
    cat /dev/$PORT > /tmp/flood-suspend.rx & READER=$!
    sleep 0.5
    # the port's interrupts while it is open and the recorder runs, frozen or not: its
    # handler's runs in the trace (aggregated in the kernel) must cover them
    PORT_IRQ=$(cat /sys/class/tty/$PORT/irq); irq0=$(irq_count $PORT_IRQ)
    rx0=$(counter rx); bo0=$(counter bo); oe0=$(counter oe)
    ST FLOOD 3000000 $FLOOD_TO
    sleep 1; full=0; partial=0
    # The premise: bytes dropped while the reader is frozen. What arrives during one cycle
    # depends on the kernel (6.12-rt once buffered only 565,248 of the 655,360 bytes the flip
    # buffer takes in a 41 s cycle), so the cycle is repeated until the kernel counted drops.
    while [ $partial -lt 3 ] && [ $(counter bo) -eq $bo0 ]; do
        pm_test_cycle freezer 40 || break
        partial=$((partial + 1))
    done
    # S3 resets the UART FIFO: bytes in flight then are lost before the kernel counts them,
    # so the S3 cycle comes after the flood, and received + dropped = sent holds exactly.
    wait_rx $((rx0 + 3000000))
    sleep 1
    mem_cycle 3 && full=1
    sleep 1
    irq1=$(irq_count $PORT_IRQ)
    kill $READER
    fact port_irq=$PORT_IRQ irq_while_recording=$((irq1 - irq0)) irq_counts=$irq0,$irq1
    fact sent=3000000 read=$(wc -c < /tmp/flood-suspend.rx) rx=$(( $(counter rx) - rx0 )) bo=$(( $(counter bo) - bo0 )) oe=$(( $(counter oe) - oe0 )) reader_pid=$READER
    rm -f /tmp/flood-suspend.rx
    fact rtc_cycles=$full pm_test_cycles=$partial
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "monitor",
        about: "`serial-trace monitor` (a drop trigger on ttyS1, metrics on) while ttyS1, held open and never read, takes a 1,500,000-byte flood across 3 suspend cycles (S3 on x86_64); the trigger's --post outlasts the scenario, so the window is saved at the stop: one window from the monitor's start to its stop, the metrics fetched in the guest before it",
        body: r#"
    ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
    serial_raw /dev/$PORT
    sleep 100000 </dev/$PORT & HOLD=$!
    sleep 0.5
    mkdir -p /tmp/monitor-windows
    serial-trace monitor --quiet -o /tmp/monitor-windows --keep 600s --memory 4M --buffer-size 32M \
        --trigger "drops[$PORT]>0" --post 600s --metrics 127.0.0.1:9465 2>/tmp/monitor.log & MON=$!
    i=0
    while ! grep -q 'monitor: watching' /tmp/monitor.log && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
    rx0=$(counter rx); bo0=$(counter bo); oe0=$(counter oe)
    ST FLOOD 1500000 $FLOOD_TO
    full=0
    for i in 1 2 3; do sleep 2; mem_cycle 3 && full=$((full + 1)); done
    wait_rx $((rx0 + 1500000))
    # the last drop run checkpointed (every second) and the metrics' analyses settled (5 s)
    sleep 8
    wget -q -O /tmp/monitor.metrics http://127.0.0.1:9465/metrics
    m() { sed -n "s/^$1 //p" /tmp/monitor.metrics; }
    fact sent=1500000 rx=$(( $(counter rx) - rx0 )) bo=$(( $(counter bo) - bo0 )) oe=$(( $(counter oe) - oe0 )) \
        metrics_dropped=$(m "serial_trace_serial_dropped_bytes_total{port=\"$PORT\"}") \
        metrics_lost=$(m serial_trace_events_lost_total) \
        metrics_by_cause=$(sed -n "s/^serial_trace_serial_dropped_by_cause_bytes_total{port=\"$PORT\",[^}]*} //p" /tmp/monitor.metrics | awk '{s+=$1} END {print s+0}') \
        metrics_cycles=$(sed -n 's/^serial_trace_suspend_cycles_total{[^}]*} //p' /tmp/monitor.metrics | awk '{s+=$1} END {print s+0}') \
        metrics_fired=$(sed -n 's/^serial_trace_triggers_fired_total{[^}]*} //p' /tmp/monitor.metrics | awk '{s+=$1} END {print s+0}') \
        fired_before_stop=$(grep -c 'monitor: trigger .* fired' /tmp/monitor.log)
    kill -TERM $MON; wait $MON; mon_rc=$?
    kill $HOLD
    n=0
    for w in /tmp/monitor-windows/*.trace; do
        [ -e "$w" ] || continue
        n=$((n + 1)); cp "$w" /tmp/monitor.window-$n.trace
    done
    cp /tmp/monitor.log /tmp/monitor.monitor.log
    fact monitor_rc=$mon_rc windows=$n
    fact rtc_cycles=$full pm_test_cycles=0
"#,
        // the scenario's own recorder beside the monitor: the serial path and the cycles (with
        // the RTC alarm that wakes them) only
        record_args: "--hooks power,rtc,serial",
        in_matrix: true,
        python: false,
        prepare: "",
        // x86_64 6.12 (fentry, S3) and arm64 5.10 (kprobes, s2idle)
        on_kernels: OnKernels::Only(&["6.12", "arm64-5.10"]),
    },
    Scenario {
        id: "s2idle",
        about: "suspend-to-idle (echo freeze) woken by a byte on ttyS1 (its power/wakeup enabled, a reader holding it open); retried up to 3 times if a byte aborts the suspend",
        body: r#"
    serial_raw /dev/$PORT
    fact port_wakeup=$(cat /sys/class/tty/$PORT/power/wakeup 2>/dev/null || echo none)
    cat /dev/$PORT > /dev/null & READER=$!
    sleep 0.5
    full=0; tries=0
    while [ $full -lt 1 ] && [ $tries -lt 3 ]; do
        sleep 1; tries=$((tries + 1))
        s2idle_cycle && full=$((full + 1))
    done
    wirq=$(cat /sys/power/pm_wakeup_irq 2>/dev/null); uirq=$(counters_line | sed -n 's/.* irq:\([0-9]*\).*/\1/p')
    kill $READER
    fact rtc_cycles=0 s2idle_cycles=$full pm_test_cycles=$((tries - full)) wake_irq=${wirq:-none} uart_irq=${uirq:-none}
"#,
        record_args: "",
        in_matrix: true,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "serial-cost",
        about: "benchmark (`cargo xtask bench`): a reader drains 2,000,000 bytes through ttyS1 while serial-trace records every hook; the guest's busy CPU time is measured",
        body: r#"
    reader_flood 2000000
    fact rtc_cycles=0 pm_test_cycles=0
"#,
        record_args: "",
        in_matrix: false,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "serial-cost-unhooked",
        about: "benchmark (`cargo xtask bench`): as serial-cost, with the serial path unhooked (the recorder runs, `--hooks power --serial-method off`)",
        body: r#"
    reader_flood 2000000
    fact rtc_cycles=0 pm_test_cycles=0
"#,
        record_args: "--hooks power --serial-method off",
        in_matrix: false,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
    Scenario {
        id: "usb-serial",
        about: "a USB-serial adapter (QEMU's FTDI FT232BM on xHCI, the kernel's ftdi_sio) held open and unread for 5 s while the host writes 1,048,576 bytes, then drained by a reader: flow control (the tty throttles, usb-serial stops reading, QEMU stops taking from the host) loses nothing; the recorder watches it with --port",
        body: r#"
    PORT=ttyUSB0; FLOOD_TO=usb
    if [ ! -c /dev/$PORT ]; then fact rtc_cycles=0 pm_test_cycles=0 usb=absent; return; fi
    serial_raw /dev/$PORT
    # opened before the flood: ftdi_open resets the adapter, discarding what it held
    sleep 100000 </dev/$PORT & HOLD=$!
    sleep 0.5
    rx0=$(counter rx); bo0=$(counter bo)
    ST FLOOD 1048576 $FLOOD_TO
    # unread meanwhile: n_tty's 4 KiB fill and it throttles the port; the rest waits in QEMU
    # and on the host, whose write blocks
    sleep 5
    held=$(( $(counter rx) - rx0 ))
    head -c 1048576 /dev/$PORT > /tmp/usb-serial.rx & READER=$!
    wait_rx $((rx0 + 1048576))
    # head exits with every byte; one still waiting means bytes went missing
    sleep 1; kill $READER 2>/dev/null; wait $READER
    fact usb=up sent=1048576 read=$(wc -c < /tmp/usb-serial.rx) rx=$(( $(counter rx) - rx0 )) bo=$(( $(counter bo) - bo0 )) held=$held reader_pid=$READER
    kill $HOLD
    rm -f /tmp/usb-serial.rx
    fact rtc_cycles=0 pm_test_cycles=0
"#,
        record_args: "--port ttyUSB0",
        in_matrix: true,
        python: false,
        prepare: "usb_serial_up",
        // both generations of the tty API (6.12: `__tty_insert_flip_string_flags`,
        // `tty_throttle_safe` returning bool; 5.10: the fixed-flag insert, int) and both
        // serial methods (x86_64 6.12: fentry; arm64 5.10: kprobes)
        on_kernels: OnKernels::Only(&["6.12", "arm64-5.10"]),
    },
    Scenario {
        id: "soak",
        about: "20 real S3 cycles in one recording while ttyS1, held open and never read, takes a 12,000,000-byte flood (not in the default matrix: `--scenario soak --cpus 1 --timeout 1200`)",
        body: r#"
    serial_raw /dev/$PORT
    sleep 100000 </dev/$PORT & HOLD=$!
    sleep 0.5
    rx0=$(counter rx); bo0=$(counter bo); oe0=$(counter oe)
    ST FLOOD 12000000 $FLOOD_TO
    full=0
    for i in $(seq 20); do sleep 1; mem_cycle 3 && full=$((full+1)); done
    wait_rx $((rx0 + 12000000))
    fact sent=12000000 rx=$(( $(counter rx) - rx0 )) bo=$(( $(counter bo) - bo0 )) oe=$(( $(counter oe) - oe0 )) soak=1
    kill $HOLD
    fact rtc_cycles=$full pm_test_cycles=0
"#,
        record_args: "",
        in_matrix: false,
        python: false,
        prepare: "",
        on_kernels: OnKernels::All,
    },
];

pub fn find(id: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.id == id)
}

/// The first lines of `/init`: the busybox applets (installed here, since an arm64 busybox
/// cannot run on the host to list them) and the architecture's ports ([`init_script`] adds
/// `PORT`, the UART the scenarios flood unless they say otherwise, and `PCI_PORT`).
const HEAD: &str = r#"#!/bin/busybox sh
# Generated by `cargo xtask vm` (xtask/src/vm/scenarios.rs).
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
"#;

const PRELUDE: &str = r#"
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
ST() { echo "@@ST $*"; }
# the 8250 on PCI (QEMU's pci-serial), whatever ttyS number the kernel gave it; each scenario
# starts on the second UART (`run` resets PORT and FLOOD_TO) and may switch to the PCI one
PCI_PORT=
for t in /sys/class/tty/ttyS*; do
    case $(readlink -f $t/device) in */pci*) PCI_PORT=${t##*/} ;; esac
done
BOARD_PORT=$PORT
OFFSET0=0
# every fact line names the flood port and what `echo mem` does on this machine
MEM_SLEEP=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/power/mem_sleep 2>/dev/null)
# and the time the kernel injected into CLOCK_BOOTTIME since the scenario began (`run` reads
# OFFSET0): what its cycles slept by the kernel's own clocks
fact() {
    echo "@@ST FACT $SCEN $* port=$PORT mem_sleep=${MEM_SLEEP:-none} asleep_ns=$(( $(clock-offset) - OFFSET0 ))"
}
# counters_line: $PORT's line of its driver's counters (ttyS4 → line 4: of .../serial)
counters_line() {
    case $PORT in ttyAMA*) f=/proc/tty/driver/ttyAMA ;; *) f=/proc/tty/driver/serial ;; esac
    grep "^${PORT##*[!0-9]}: " $f
}
# counter FIELD: a field of $PORT's counters (absent fields are 0); a USB adapter publishes
# none in /proc, so its are read by TIOCGICOUNT (only while the port is held open: a first
# open would reset QEMU's FTDI)
counter() {
    case $PORT in
    ttyUSB*)
        case $1 in bo) f=buf_overrun ;; oe) f=overrun ;; *) f=$1 ;; esac
        tty-icount /dev/$PORT $f ;;
    *)
        v=$(counters_line | tr ' ' '\n' | sed -n "s/^$1://p")
        echo ${v:-0} ;;
    esac
}
# serial_raw DEVICE: raw, no echo, no flow control, by busybox's stty (its pid a fact: the
# change is checked in the trace with the task that made it)
serial_raw() {
    stty -F $1 raw -echo -ixon -ixoff -crtscts & RAW_BY=$!; wait $RAW_BY
    fact raw_set_by=$RAW_BY
}
# mem_cycle SECONDS: one real `echo mem` cycle woken by the RTC alarm: S3 where mem_sleep is
# deep (x86), suspend-to-idle where it is s2idle (arm64 virt)
mem_cycle() {
    echo 0 > /sys/class/rtc/rtc0/wakealarm
    echo +$1 > /sys/class/rtc/rtc0/wakealarm
    echo mem > /sys/power/state
}
# s2idle_cycle: one suspend-to-idle cycle, woken by the bytes the host sends into the flood
# port (one a second from the moment asked) through the port's wakeup IRQ; the port must be open
s2idle_cycle() {
    echo enabled > /sys/class/tty/$PORT/power/wakeup
    ST WAKEBYTES START
    echo freeze > /sys/power/state; rc=$?
    ST WAKEBYTES STOP
    echo disabled > /sys/class/tty/$PORT/power/wakeup
    return $rc
}
# pm_test_cycle LEVEL DELAY: a partial cycle stopping at LEVEL for DELAY seconds
pm_test_cycle() {
    echo $2 > /sys/module/suspend/parameters/pm_test_delay
    echo $1 > /sys/power/pm_test
    echo mem > /sys/power/state; rc=$?
    echo none > /sys/power/pm_test
    return $rc
}
# cycles_around PID: 2 s on, a 3 s pm_test freezer cycle, 2 s on, a real cycle; then waits for
# the workload PID and states what was done and how it exited
cycles_around() {
    sleep 2; full=0; partial=0
    pm_test_cycle freezer 3 && partial=1
    sleep 2
    mem_cycle 3 && full=1
    wait $1; rc=$?
    fact rtc_cycles=$full pm_test_cycles=$partial workload_rc=$rc
}
# unread_flood BYTES: the flood port held open, never read, while the host writes BYTES into it
unread_flood() {
    serial_raw /dev/$PORT
    sleep 100000 </dev/$PORT & HOLD=$!
    sleep 0.5
    rx0=$(counter rx); bo0=$(counter bo); oe0=$(counter oe)
    ST FLOOD $1 $FLOOD_TO
    wait_rx $((rx0 + $1))
    fact sent=$1 rx=$(( $(counter rx) - rx0 )) bo=$(( $(counter bo) - bo0 )) oe=$(( $(counter oe) - oe0 ))
    kill $HOLD
}
# usb_serial_up: the USB-serial adapter (QEMU's FTDI FT232BM on xHCI) as /dev/ttyUSB0. Loads
# this kernel's driver chain, which the harness appended to the initrd in load order (nothing
# for a --vmlinuz kernel: its port comes up only with the drivers built in), and waits up to
# 10 s for the port. Says `@@ST USB up ...` or `@@ST USB absent <why>` with the kernel log's
# tail: a kernel without the adapter is a finding, not an error. Fails when absent.
usb_serial_up() {
    d=/lib/modules/usb-serial
    for ko in $d/*.ko; do
        [ -e "$ko" ] || continue
        m=${ko##*/}; m=${m#*-}; m=${m%.ko}
        # loaded by an earlier scenario
        [ -d /sys/module/$(echo $m | tr - _) ] && continue
        if ! insmod $ko; then ST USB absent "insmod $m failed"; dmesg | tail -n 20; return 1; fi
    done
    i=0
    while [ ! -c /dev/ttyUSB0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if [ -c /dev/ttyUSB0 ]; then
        ST USB up ttyUSB0 after_ds=$i modules=$(ls $d 2>/dev/null | tr '\n' ,)
        return 0
    fi
    if [ -d $d ]; then
        ST USB absent "no /dev/ttyUSB0 10 s after loading its modules"
    else
        ST USB absent "no USB-serial modules for this kernel, no /dev/ttyUSB0"
    fi
    dmesg | tail -n 20
    return 1
}
# unstable_clocksources: the clocksources the kernel's log says were marked unstable, sorted,
# comma-separated ("none": none)
unstable_clocksources() {
    l=$(dmesg | sed -n "s/.*Marking clocksource '\([^']*\)' as unstable.*/\1/p; s/.*Marking TSC unstable due to.*/tsc/p" | sort -u | tr '\n' ',')
    l=${l%,}; echo ${l:-none}
}
# irq_count IRQ: the interrupts /proc/interrupts counted for IRQ, summed over the CPUs
irq_count() {
    awk -v irq="$1:" '$1 == irq { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; print n }' /proc/interrupts
}
# busy_cs: centiseconds all CPUs spent not idle (user, nice, system, irq, softirq)
busy_cs() {
    read -r _ u n s _ _ irq sirq _ < /proc/stat
    echo $((u + n + s + irq + sirq))
}
# reader_flood BYTES: a reader drains the flood port while the host writes BYTES; facts: the bytes,
# the kernel's counters and the guest's busy CPU time over the flood (the benchmark's cost)
reader_flood() {
    serial_raw /dev/$PORT
    cat /dev/$PORT > /dev/null & READER=$!
    sleep 0.5
    rx0=$(counter rx); bo0=$(counter bo); oe0=$(counter oe); b0=$(busy_cs)
    ST FLOOD $1 $FLOOD_TO
    wait_rx $((rx0 + $1))
    b1=$(busy_cs)
    kill $READER
    fact sent=$1 rx=$(( $(counter rx) - rx0 )) bo=$(( $(counter bo) - bo0 )) oe=$(( $(counter oe) - oe0 )) busy_cs=$((b1 - b0))
}
# wait_rx TARGET: until $PORT's rx counter reaches TARGET or stops growing for 10 s.
# A few bytes can vanish before the UART counts them (its FIFO is reset across S3); the
# scenario records rx as a fact, and only a flood that never arrived is an error.
wait_rx() {
    last=-1; still=0; first=$(counter rx)
    while :; do
        rx=$(counter rx)
        [ "$rx" -ge "$1" ] && return 0
        if [ "$rx" -eq "$last" ]; then
            still=$((still + 1))
            if [ $still -ge 10 ]; then
                [ "$rx" -eq "$first" ] && ST ERROR "$SCEN: no bytes arrived on $PORT"
                return 1
            fi
        else
            still=0
        fi
        last=$rx; sleep 1
    done
}
run() {
    SCEN=$1; shift
    PORT=$BOARD_PORT; FLOOD_TO=serial1; OFFSET0=$(clock-offset)
    ST BEGIN $SCEN
    pre_$(echo $SCEN | tr - _)
    # The recorder is a user task: suspend freezes it with the others, and the ring buffer
    # must hold what the kernel produces meanwhile (40 s of a freezer-level cycle here).
    serial-trace record --buffer-size 32M "$@" -o /tmp/$SCEN.trace 2>/tmp/$SCEN.record.log & REC=$!
    i=0
    while [ ! -s /tmp/$SCEN.trace ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
    if [ ! -s /tmp/$SCEN.trace ]; then ST ERROR "$SCEN: recorder did not start"; cat /tmp/$SCEN.record.log; fi
    sc_$(echo $SCEN | tr - _)
    # leave a window after the last resume so probe liveness can be judged
    sleep 2
    kill -TERM $REC; wait $REC
    fact recorder_rc=$?
    # what a scenario asked to do once its recorder is gone
    [ -n "$AFTER_REC" ] && eval "$AFTER_REC"; AFTER_REC=
    ST END $SCEN
}
ST BOOT "$(uname -r)"
"#;

/// The guest's `/init`: prelude, one function per scenario, the runs, the export, poweroff.
pub fn init_script(arch: Arch, scenarios: &[&Scenario]) -> String {
    let mut s = String::from(HEAD);
    s += &format!("PORT={}\n", arch.flood_port());
    s.push_str(PRELUDE);
    for sc in scenarios {
        let id = sc.id.replace('-', "_");
        s.push_str(&format!("sc_{id}() {{{}}}\n", sc.body));
        s.push_str(&format!("pre_{id}() {{ :; {}\n}}\n", sc.prepare));
    }
    for sc in scenarios {
        s.push_str(&format!("run {} {}\n", sc.id, sc.record_args));
    }
    s.push_str(
        "cd /tmp && guest-export $(ls *.trace *.log *.jsonl *.json 2>/dev/null)\nST DONE\npoweroff -f\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_runs_every_scenario_and_parses() {
        let all: Vec<&Scenario> = SCENARIOS.iter().collect();
        let script = init_script(Arch::X86_64, &all);
        for sc in SCENARIOS {
            assert!(script.contains(&format!("run {} {}\n", sc.id, sc.record_args)));
            assert!(
                sc.body.contains("fact rtc_cycles=") || sc.body.contains("cycles_around "),
                "{} reports no cycle count",
                sc.id
            );
        }
        assert!(script.contains(&format!("d=/{}\n", crate::vm::guest::USB_SERIAL_MODULES)));
        let ct = SCENARIOS.iter().find(|s| s.id == "cyclictest").unwrap();
        assert!(ct.body.contains(&format!("-l {CYCLICTEST_LOOPS} ")));
        // the host's sh must at least parse it
        let dir = std::env::temp_dir().join(format!("st-init-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("init");
        std::fs::write(&p, &script).unwrap();
        let st = std::process::Command::new("sh")
            .arg("-n")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success(), "init script does not parse");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// CI's budget goes where a scenario adds coverage: USB-serial on one kernel per
    /// architecture (the two tty API generations, fentry and kprobes), flood-kprobe only where
    /// the default run is not kprobes already; every other matrix scenario everywhere.
    #[test]
    fn scenarios_run_where_they_add_coverage() {
        let usb = find("usb-serial").unwrap();
        assert!(usb.in_matrix && usb.prepare.contains("usb_serial_up"));
        assert!(usb.runs_on(Arch::X86_64, "6.12", "6.12.118-1"));
        assert!(usb.runs_on(Arch::Arm64, "arm64-5.10", "5.10.223-1"));
        assert!(!usb.runs_on(Arch::X86_64, "5.10", "5.10.262-1"));
        assert!(!usb.runs_on(Arch::Arm64, "arm64-6.12", "6.12.118-1"));
        let kp = find("flood-kprobe").unwrap();
        assert!(kp.runs_on(Arch::X86_64, "5.10", "5.10.262-1"));
        assert!(kp.runs_on(Arch::Arm64, "arm64-6.12", "6.12.118-1"));
        assert!(!kp.runs_on(Arch::Arm64, "arm64-5.10", "5.10.223-1"));
        assert!(!kp.runs_on(Arch::Arm64, "arm64-6.1", "6.1.192-3"));
        let read = find("flood-read").unwrap();
        assert!(read.in_matrix);
        assert!(read.runs_on(Arch::X86_64, "6.12", "6.12.118-1"));
        assert!(read.runs_on(Arch::Arm64, "arm64-6.12", "6.12.118-1"));
        assert!(!read.runs_on(Arch::X86_64, "5.10", "5.10.262-1"));
        for sc in SCENARIOS
            .iter()
            .filter(|s| !["usb-serial", "flood-kprobe", "flood-read", "monitor"].contains(&s.id))
        {
            assert_eq!(sc.on_kernels, OnKernels::All, "{}", sc.id);
        }
        // the prepare step runs before the recorder, which then finds the port
        let script = init_script(Arch::X86_64, &[usb]);
        assert!(script.contains("pre_usb_serial() { :; usb_serial_up\n}"));
        let run = script.find("run() {").unwrap();
        let (pre, rec) = (
            script[run..].find("pre_$(echo").unwrap(),
            script[run..].find("serial-trace record").unwrap(),
        );
        assert!(pre < rec);
    }
}
