"""A Python service the way they are written: an asyncio event loop with a periodic timer on the
main thread, a second thread running its own loop that waits for messages with a timeout, and a
plain heartbeat thread that sleeps with time.sleep and feeds the second loop.

The timers, the epoll calls and their retries after EINTR (PEP 475), the GIL and the thread
hand-offs are CPython's and asyncio's, not this project's: the script only asks for sleeps and
logs, on the program's own clocks, when each timer fired. That log is the ground truth of the
`asyncio` VM scenario (one JSON object per wakeup, the fields timer-workload logs).

Wakeups logged, by `api`:
  asyncio-call-at    main thread: loop.call_later(tick) chained from its own callback; the
                     callback reads the clock, so the time is the moment asyncio ran the timer
  asyncio-wait-for   second thread: asyncio.wait_for(queue.get(), timeout) that timed out (the
                     waits a message ended are not sleeps that fired, and are not logged)
  python-time-sleep  heartbeat thread: time.sleep (clock_nanosleep, TIMER_ABSTIME)
"""

import argparse
import asyncio
import json
import sys
import threading
import time

MONO = time.CLOCK_MONOTONIC
BOOT = time.CLOCK_BOOTTIME


def clocks():
    return time.clock_gettime_ns(MONO), time.clock_gettime_ns(BOOT)


class Log:
    """Wakeups of all threads, written once at the end (list.append is atomic under the GIL)."""

    def __init__(self):
        self.rows = []

    def wakeup(self, api, deadline_ns, asked_ns, asked_offset_ns):
        mono, boot = clocks()
        self.rows.append(
            {
                "tid": threading.get_native_id(),
                "clock": "monotonic",
                "api": api,
                "deadline_ns": deadline_ns,
                "woke_mono_ns": mono,
                "woke_boot_ns": boot,
                "late_ns": mono - deadline_ns,
                "asked_boot_minus_mono_ns": asked_offset_ns,
                # the runtime computes the kernel's deadline from its own, later clock read
                "asked_ns": asked_ns,
            }
        )


def offset_now():
    mono, boot = clocks()
    return boot - mono


def to_ns(loop_time):
    """asyncio's loop.time() is time.monotonic(): CLOCK_MONOTONIC in float seconds."""
    return round(loop_time * 1e9)


def waiter_thread(log, stop, ready, box, timeout_s):
    """Its own event loop, waiting for messages with a timeout."""

    async def run():
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()
        box["loop"], box["queue"] = loop, queue
        ready.set()
        while not stop.is_set():
            offset = offset_now()
            deadline = to_ns(loop.time() + timeout_s)
            try:
                await asyncio.wait_for(queue.get(), timeout_s)
            except asyncio.TimeoutError:
                log.wakeup("asyncio-wait-for", deadline, round(timeout_s * 1e9), offset)

    asyncio.run(run())


def heartbeat_thread(log, stop, box, interval_s, feed_every):
    """A plain thread: sleeps, and every few beats hands the waiter a message."""
    beats = 0
    while not stop.is_set():
        offset = offset_now()
        deadline = time.monotonic_ns() + round(interval_s * 1e9)
        time.sleep(interval_s)
        log.wakeup("python-time-sleep", deadline, round(interval_s * 1e9), offset)
        beats += 1
        if beats % feed_every == 0:
            box["loop"].call_soon_threadsafe(box["queue"].put_nowait, beats)


async def main(args, log):
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    ready = threading.Event()
    box = {}
    waiter = threading.Thread(
        target=waiter_thread,
        args=(log, stop, ready, box, args.wait_for_ms / 1000),
        name="waiter",
    )
    waiter.start()
    ready.wait()
    heartbeat = threading.Thread(
        target=heartbeat_thread,
        args=(log, stop, box, args.heartbeat_ms / 1000, args.feed_every),
        name="heartbeat",
    )
    heartbeat.start()

    done = loop.create_future()
    end = loop.time() + args.duration_s
    tick_s = args.tick_ms / 1000

    def tick(offset, deadline):
        log.wakeup("asyncio-call-at", deadline, round(tick_s * 1e9), offset)
        schedule()

    def schedule():
        if loop.time() >= end:
            done.set_result(None)
            return
        offset = offset_now()
        handle = loop.call_later(tick_s, lambda: tick(offset, to_ns(handle.when())))

    schedule()
    if args.ready_file:
        open(args.ready_file, "w").close()
    await done
    stop.set()
    # the waiter's loop and the heartbeat end within one of their sleeps
    await asyncio.to_thread(waiter.join)
    await asyncio.to_thread(heartbeat.join)
    return {
        "python": sys.version.split()[0],
        "main_tid": threading.get_native_id(),
    }


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration-s", type=float, default=14.0)
    p.add_argument("--tick-ms", type=float, default=10.0)
    p.add_argument("--wait-for-ms", type=float, default=200.0)
    p.add_argument("--heartbeat-ms", type=float, default=50.0)
    p.add_argument(
        "--feed-every", type=int, default=9, help="beats between messages to the waiter"
    )
    p.add_argument("--log", required=True, help="JSONL file of every wakeup")
    p.add_argument("--ready-file", help="created once every thread sleeps")
    return p.parse_args()


if __name__ == "__main__":
    args = parse_args()
    log = Log()
    summary = asyncio.run(main(args, log))
    with open(args.log, "w") as f:
        for row in log.rows:
            f.write(json.dumps(row) + "\n")
    by_api = {}
    for row in log.rows:
        by_api.setdefault(row["api"], {"tid": row["tid"], "wakeups": 0})["wakeups"] += 1
    summary["by_api"] = by_api
    print(json.dumps(summary))
