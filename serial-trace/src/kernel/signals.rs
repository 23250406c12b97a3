//! Which thread takes the stop signals.

/// Called first in every worker thread of the recorder: SIGINT, SIGTERM and SIGHUP are the
/// main thread's alone (a worker blocks them, so the kernel hands a process-wide one to the
/// main thread). A second Ctrl-C then runs its handler on the main thread right after the
/// first's, before the clean stop can end: one taken by a worker waited for that thread to
/// be scheduled, and a quick clean stop exited 0 before it ran (a debug build, 1 run in 5).
pub fn leave_stop_signals_to_the_main_thread() {
    // SAFETY: a sigset_t built with the libc calls, passed to pthread_sigmask for this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
