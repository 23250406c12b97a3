//! `fsync` of the trace off the draining thread. Each checkpoint pushes what was written to
//! the disk, but a sync can take seconds: SD cards and eMMC on the boards this tool is for, or
//! a VM whose block device stalls while its emulated UART takes an interrupt storm (11 s for
//! a 4 KiB fsync seen on this project's machine during a loopback flood). Done inline, the
//! recorder stopped draining the ring buffer for that long and the kernel dropped events
//! (counted, but lost). Written data is in the page cache as soon as `write` returns, so a
//! killed recorder loses nothing by syncing later; only a power cut does, and then at most
//! what one slow sync had not reached.

use std::fs::File;
use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

/// One background thread that syncs a file when asked, at most one sync in flight.
pub struct Syncer {
    ask: Option<SyncSender<()>>,
    done: Receiver<io::Result<()>>,
    thread: Option<JoinHandle<()>>,
    in_flight: bool,
}

impl Syncer {
    /// Starts the thread on its own descriptor of `file` (same open file, so the same data).
    pub fn new(file: &File) -> io::Result<Self> {
        let file = file.try_clone()?;
        let (ask, asked) = mpsc::sync_channel::<()>(1);
        let (report, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("trace-sync".into())
            .spawn(move || {
                crate::kernel::signals::leave_stop_signals_to_the_main_thread();
                while asked.recv().is_ok() {
                    if report.send(file.sync_data()).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Syncer {
            ask: Some(ask),
            done,
            thread: Some(thread),
            in_flight: false,
        })
    }

    /// Starts a sync unless one is still running (then the next checkpoint asks again), and
    /// returns the error of a sync that finished since the last call.
    pub fn request(&mut self) -> io::Result<()> {
        self.collect()?;
        if !self.in_flight {
            if let Some(ask) = &self.ask {
                if ask.send(()).is_ok() {
                    self.in_flight = true;
                }
            }
        }
        Ok(())
    }

    fn collect(&mut self) -> io::Result<()> {
        loop {
            match self.done.try_recv() {
                Ok(r) => {
                    self.in_flight = false;
                    r?;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return Ok(()),
            }
        }
    }

    /// Waits for the sync in flight and stops the thread; returns its error, if any.
    pub fn finish(mut self) -> io::Result<()> {
        self.ask.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.collect()
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.ask.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn syncs_in_the_background_one_at_a_time() {
        let path = std::env::temp_dir().join(format!("syncer-{}", std::process::id()));
        let mut f = File::create(&path).unwrap();
        let mut s = Syncer::new(&f).unwrap();
        for _ in 0..50 {
            f.write_all(b"frame").unwrap();
            s.request().unwrap();
        }
        s.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 250);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_failed_sync_is_reported() {
        // syncing a read-only descriptor of a pipe fails with EINVAL
        let (r, _w) = {
            let mut fds = [0; 2];
            // SAFETY: pipe writes two descriptors into the array.
            assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
            use std::os::fd::FromRawFd;
            // SAFETY: both descriptors are fresh and owned here.
            unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
        };
        let mut s = Syncer::new(&r).unwrap();
        s.request().unwrap();
        assert!(s.finish().is_err());
    }
}
