//! guest-export: copies files out of a QEMU guest, far faster than a serial port under TCG and
//! leaving the serial ports to the scenarios:
//! - x86_64: through the ISA debug console (I/O port 0xe9, `-debugcon file:…` on the host), one
//!   `rep outsb` per chunk; needs CAP_SYS_RAWIO (root in the guest).
//! - aarch64: through Arm semihosting (`hlt #0xf000`; QEMU's `-semihosting-config
//!   enable=on,target=native,userspace=on`): QEMU appends to `export.bin` in its working
//!   directory.
//!
//! Stream: for each file `@@STFILE <name>\n<size>\n<bytes>`; the host splits it back up.

#[cfg(target_arch = "x86_64")]
mod sink {
    const PORT: u16 = 0xe9;

    pub fn open() -> Result<(), String> {
        // SAFETY: raising the I/O privilege level of this process only.
        if unsafe { libc::iopl(3) } != 0 {
            return Err(format!("iopl: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    pub fn write(bytes: &[u8]) -> Result<(), String> {
        for chunk in bytes.chunks(1 << 16) {
            // SAFETY: iopl(3) was granted; `rep outsb` reads `len` bytes from `ptr` and writes them
            // to the debug port; it touches no other memory.
            unsafe {
                std::arch::asm!(
                    "rep outsb",
                    in("dx") PORT,
                    inout("rsi") chunk.as_ptr() => _,
                    inout("rcx") chunk.len() => _,
                    options(nostack, readonly)
                );
            }
        }
        Ok(())
    }
}

#[cfg(target_arch = "aarch64")]
mod sink {
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SYS_OPEN: usize = 0x01;
    const SYS_WRITE: usize = 0x05;
    /// SYS_OPEN's mode 9 is fopen's "ab".
    const MODE_APPEND_BINARY: usize = 9;
    /// Relative to QEMU's working directory, which the harness sets to the run's folder.
    const FILE: &[u8] = b"export.bin\0";
    static HANDLE: AtomicUsize = AtomicUsize::new(usize::MAX);

    /// One semihosting call: operation in w0, parameter block in x1, result in x0.
    fn call(op: usize, block: &[usize]) -> isize {
        let ret: isize;
        // SAFETY: `hlt #0xf000` traps to QEMU, which reads `block` (and the memory it points
        // to, all live for this call) and writes only x0.
        unsafe {
            std::arch::asm!(
                "hlt #0xf000",
                inout("x0") op => ret,
                in("x1") block.as_ptr(),
                options(nostack, readonly)
            );
        }
        ret
    }

    pub fn open() -> Result<(), String> {
        let h = call(
            SYS_OPEN,
            &[FILE.as_ptr() as usize, MODE_APPEND_BINARY, FILE.len() - 1],
        );
        if h < 0 {
            return Err(
                "semihosting SYS_OPEN failed (is QEMU's -semihosting-config userspace=on given?)"
                    .into(),
            );
        }
        HANDLE.store(h as usize, Ordering::Relaxed);
        Ok(())
    }

    pub fn write(bytes: &[u8]) -> Result<(), String> {
        let h = HANDLE.load(Ordering::Relaxed);
        for chunk in bytes.chunks(1 << 16) {
            // the result is the number of bytes not written
            let left = call(SYS_WRITE, &[h, chunk.as_ptr() as usize, chunk.len()]);
            if left != 0 {
                return Err(format!("semihosting SYS_WRITE left {left} bytes unwritten"));
            }
        }
        Ok(())
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod sink {
    pub fn open() -> Result<(), String> {
        Err("only x86_64 (debug console) and aarch64 (semihosting) guests can export".into())
    }

    pub fn write(_: &[u8]) -> Result<(), String> {
        unreachable!("open failed")
    }
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() || files[0] == "--help" {
        println!(
            "usage: guest-export FILE... (writes them to the x86 debug console or Arm semihosting)"
        );
        return;
    }
    if let Err(e) = sink::open() {
        eprintln!("guest-export: {e}");
        std::process::exit(1);
    }
    let mut failed = false;
    for f in &files {
        match std::fs::read(f) {
            Ok(data) => {
                let name = std::path::Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| f.clone());
                let header = format!("@@STFILE {name}\n{}\n", data.len());
                if let Err(e) = sink::write(header.as_bytes()).and_then(|()| sink::write(&data)) {
                    eprintln!("guest-export: {name}: {e}");
                    std::process::exit(1);
                }
                println!("guest-export: {name} {} bytes", data.len());
            }
            Err(e) => {
                eprintln!("guest-export: {f}: {e}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
