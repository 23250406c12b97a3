//! A newc ("070701") cpio writer: the initramfs format the kernel unpacks. Small enough to
//! write here rather than shell out to `cpio` and depend on the host's file modes.

use std::io::{self, Write};

/// Accumulates an archive in memory (initramfs images are a few MB).
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32), mtime: u32) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            mtime,
            data.len(),
            0,
            0, // dev major/minor
            rdev.0,
            rdev.1,
            namesize,
            0 // check
        );
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, &[], (0, 0), 0);
    }

    /// A file with mtime 0: images are reproducible.
    pub fn file(&mut self, name: &str, data: &[u8], executable: bool) {
        self.file_at(name, data, executable, 0);
    }

    /// A file with the host file's mtime, for files whose readers compare it: Python takes a
    /// cached `.pyc` only when the `.py` beside it has the mtime recorded in it.
    pub fn file_at(&mut self, name: &str, data: &[u8], executable: bool, mtime: u32) {
        let perm = if executable { 0o755 } else { 0o644 };
        self.entry(name, S_IFREG | perm, data, (0, 0), mtime);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, target.as_bytes(), (0, 0), 0);
    }

    /// A character device node (e.g. /dev/console 5:1, needed before devtmpfs is mounted).
    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | 0o600, &[], (major, minor), 0);
    }

    /// Finishes the archive with the `TRAILER!!!` entry.
    pub fn finish(mut self, w: &mut impl Write) -> io::Result<()> {
        self.entry("TRAILER!!!", 0, &[], (0, 0), 0);
        w.write_all(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_newc() {
        let mut c = Cpio::default();
        c.dir("bin");
        c.file("init", b"#!/bin/sh\n", true);
        c.symlink("bin/sh", "busybox");
        let mut out = Vec::new();
        c.finish(&mut out).unwrap();
        assert_eq!(&out[..6], b"070701");
        assert!(out.len().is_multiple_of(4));
        // header of the second entry: mode field at offset 14..22 is a regular 0755 file
        let second = out.windows(6).skip(1).position(|w| w == b"070701").unwrap() + 1;
        assert_eq!(&out[second + 14..second + 22], b"000081ed");
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
