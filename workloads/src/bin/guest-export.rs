//! guest-export: copies files out of a QEMU guest through the ISA debug console (I/O port
//! 0xe9, `-debugcon file:…` on the host). One `rep outsb` per chunk makes it far faster than a
//! serial port under TCG and leaves the serial ports to the scenarios.
//!
//! Stream: for each file `@@STFILE <name>\n<size>\n<bytes>`; the host splits it back up.
//! x86 only; needs CAP_SYS_RAWIO (root in the guest).

const PORT: u16 = 0xe9;

#[cfg(target_arch = "x86_64")]
fn out_bytes(bytes: &[u8]) {
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
}

#[cfg(not(target_arch = "x86_64"))]
fn out_bytes(_: &[u8]) {
    eprintln!("guest-export: only x86_64 guests have the 0xe9 debug console");
    std::process::exit(1);
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() || files[0] == "--help" {
        println!("usage: guest-export FILE... (writes them to I/O port 0xe9)");
        return;
    }
    // SAFETY: raising the I/O privilege level of this process only.
    #[cfg(target_arch = "x86_64")]
    if unsafe { libc::iopl(3) } != 0 {
        eprintln!("guest-export: iopl: {}", std::io::Error::last_os_error());
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
                out_bytes(format!("@@STFILE {name}\n{}\n", data.len()).as_bytes());
                out_bytes(&data);
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
