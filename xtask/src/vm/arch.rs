//! The guest architectures of the VM matrix and every fact that differs between them: the
//! Debian architecture, the Rust target, the emulator and its board, the UARTs and where their
//! counters live, and how files leave the guest.

use std::process::Command;

use clap::ValueEnum;

use crate::dist::Target;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// PC board, ISA 16550 UARTs (ttyS*), ACPI S3 and s2idle.
    #[default]
    #[value(name = "x86_64", alias = "amd64")]
    X86_64,
    /// QEMU `virt` board, PL011 UARTs (ttyAMA*), PL031 RTC, s2idle only.
    #[value(name = "arm64", alias = "aarch64")]
    Arm64,
}

impl Arch {
    /// Debian's name (`dpkg --print-architecture`).
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The build target of this guest's static binaries (`cargo xtask dist`).
    pub fn target(self) -> Target {
        match self {
            Arch::X86_64 => Target::X86_64,
            Arch::Arm64 => Target::Aarch64,
        }
    }

    /// Prefix of the kernel ids and result folders (`target/vm/arm64-6.12`); x86_64's ids
    /// have none, as before arm64 joined.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Arch::X86_64 => "",
            Arch::Arm64 => "arm64-",
        }
    }

    pub fn qemu_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Arm64 => "qemu-system-aarch64",
        }
    }

    /// The board and what it needs to suspend, boot and export files. x86: the PIIX4's S3
    /// is enabled and files leave through the ISA debug console (`guest-export` writes port
    /// 0xe9). arm64: QEMU's `virt` (PL011s, PL031 RTC; its only sleep state is s2idle) on a
    /// Cortex-A72, files through Arm semihosting (`guest-export` asks QEMU to write a file in
    /// its working directory, which the harness sets to the run's folder).
    pub fn board_args(self, q: &mut Command, export: &str) {
        match self {
            Arch::X86_64 => {
                q.args(["-machine", "pc"])
                    .args(["-global", "PIIX4_PM.disable_s3=0"])
                    .arg("-debugcon")
                    .arg(format!("file:{export}"));
            }
            Arch::Arm64 => {
                q.args(["-machine", "virt", "-cpu", "cortex-a72"]).args([
                    "-semihosting-config",
                    "enable=on,target=native,userspace=on",
                ]);
            }
        }
    }

    /// The console UART (the guest's /init talks to the harness on it).
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS0",
            Arch::Arm64 => "ttyAMA0",
        }
    }

    /// The second UART, which the scenarios flood: the host writes into its socket.
    pub fn flood_port(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS1",
            Arch::Arm64 => "ttyAMA1",
        }
    }

    /// The method `record --serial-method auto` must pick for the drop hook on a kernel of
    /// this release (`6.12.118+deb13-arm64`): fexit where the kernel can attach fentry/fexit
    /// programs, kprobes where it cannot (arm64 before 6.4: no ftrace direct calls).
    pub fn default_serial_method(self, release: &str) -> &'static str {
        let mut v = release
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u32>().ok());
        let version = (v.next().unwrap_or(0), v.next().unwrap_or(0));
        match self {
            Arch::Arm64 if version < (6, 4) => "kprobe",
            _ => "fexit",
        }
    }

    /// ELF `e_machine` of this architecture's binaries.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62, // EM_X86_64
            Arch::Arm64 => 183, // EM_AARCH64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_before_6_4_hooks_the_serial_path_with_kprobes() {
        for (arch, release, method) in [
            (Arch::Arm64, "5.10.0-32-arm64", "kprobe"),
            (Arch::Arm64, "6.1.0-41-arm64", "kprobe"),
            (Arch::Arm64, "6.12.118+deb13-arm64", "fexit"),
            (Arch::X86_64, "5.10.0-32-amd64", "fexit"),
        ] {
            assert_eq!(arch.default_serial_method(release), method, "{release}");
        }
    }
}
