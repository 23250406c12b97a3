//! Errno values spelled the way the kernel and strace spell them (EPERM, …).

use std::io;

/// `ENOTSUPP` from `include/linux/errno.h`: not in libc, but bpf() returns it.
pub const ENOTSUPP: i32 = 524;

/// The symbolic name of an errno, when it is one this tool meets.
pub fn errno_name(code: i32) -> Option<&'static str> {
    Some(match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::E2BIG => "E2BIG",
        libc::ESRCH => "ESRCH",
        // kernel-internal, but returned by bpf() when a program type or attach is unsupported
        ENOTSUPP => "ENOTSUPP",
        _ => return None,
    })
}

/// The errno's symbolic name, or `errno N` for one this tool does not name.
pub fn short_name(code: i32) -> String {
    errno_name(code).map_or_else(|| format!("errno {code}"), String::from)
}

/// "EINVAL: Invalid argument (os error 22)".
pub fn describe(err: &io::Error) -> String {
    match err.raw_os_error().and_then(errno_name) {
        Some(name) => format!("{name}: {err}"),
        None => err.to_string(),
    }
}
