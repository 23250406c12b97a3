//! tracefs: where it is, mounting it when needed, and parsing tracepoint `format` files.
//! Field offsets are always read from the running kernel, never hard-coded.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::trace::FieldOffset;

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// The tracefs root, mounting it at `/sys/kernel/tracing` if no instance is mounted.
pub fn ensure_mounted() -> Result<PathBuf> {
    if let Some(p) = find() {
        return Ok(p);
    }
    let target = std::ffi::CString::new(TRACEFS)?;
    let fstype = std::ffi::CString::new("tracefs")?;
    // SAFETY: plain mount(2) with valid NUL-terminated strings and no data.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        bail!("tracefs is not mounted and mounting it at {TRACEFS} failed: {err}");
    }
    find().with_context(|| format!("mounted tracefs at {TRACEFS} but found no events in it"))
}

/// The tracefs root if one is mounted.
pub fn find() -> Option<PathBuf> {
    [TRACEFS, DEBUGFS_TRACING]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// The `format` file of `category:name`, if the tracepoint exists on this kernel.
pub fn format_path(root: &Path, category: &str, name: &str) -> Option<PathBuf> {
    let p = root.join("events").join(category).join(name).join("format");
    p.is_file().then_some(p)
}

/// One parsed `field:` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatField {
    pub name: String,
    /// The C type as written (`const char *`, `__data_loc char[]`, `s64`, …).
    pub c_type: String,
    pub offset: u16,
    pub size: u16,
    pub signed: bool,
}

impl FormatField {
    pub fn to_offset(&self) -> FieldOffset {
        FieldOffset {
            name: self.name.clone(),
            offset: self.offset,
            size: self.size.min(255) as u8,
            signed: self.signed,
        }
    }
}

/// Parses a tracefs `format` file (the non-common fields and the common ones alike).
pub fn parse_format(text: &str) -> Result<Vec<FormatField>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut decl = None;
        let (mut offset, mut size, mut signed) = (None, None, None);
        for part in rest.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(v) = part.strip_prefix("offset:") {
                offset = v.parse::<u16>().ok();
            } else if let Some(v) = part.strip_prefix("size:") {
                size = v.parse::<u16>().ok();
            } else if let Some(v) = part.strip_prefix("signed:") {
                signed = Some(v == "1");
            } else if decl.is_none() {
                decl = Some(part);
            }
        }
        let (Some(decl), Some(offset), Some(size)) = (decl, offset, size) else {
            bail!("unparsable format line: {line}");
        };
        let (c_type, name) = split_decl(decl);
        out.push(FormatField {
            name,
            c_type,
            offset,
            size,
            signed: signed.unwrap_or(false),
        });
    }
    if out.is_empty() {
        bail!("no fields in format file");
    }
    Ok(out)
}

/// `"char comm[16]"` → (`"char[16]"`, `"comm"`); `"const char * action"` → (`"const char *"`, `"action"`).
fn split_decl(decl: &str) -> (String, String) {
    let decl = decl.trim();
    // `name[16]`: the array suffix belongs to the type; `__data_loc char[] name` has none.
    let (decl, array) = match decl.strip_suffix(']').and_then(|d| d.rfind('[')) {
        Some(i) => (&decl[..i], &decl[i..]),
        None => (decl, ""),
    };
    let split = decl
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(|i| i + 1)
        .unwrap_or(0);
    let name = decl[split..].to_string();
    let c_type = format!("{}{}", decl[..split].trim(), array);
    (c_type, name)
}

/// Reads and parses the format of `category:name`.
pub fn read_format(root: &Path, category: &str, name: &str) -> Result<Option<Vec<FormatField>>> {
    let Some(p) = format_path(root, category, name) else {
        return Ok(None);
    };
    let text = fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    parse_format(&text)
        .with_context(|| format!("parsing {}", p.display()))
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `timer:hrtimer_start` on 6.18 (with `was_armed`).
    pub const HRTIMER_START_6_18: &str = "name: hrtimer_start
ID: 123
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:void * hrtimer;\toffset:8;\tsize:8;\tsigned:0;
\tfield:void * function;\toffset:16;\tsize:8;\tsigned:0;
\tfield:s64 expires;\toffset:24;\tsize:8;\tsigned:1;
\tfield:s64 softexpires;\toffset:32;\tsize:8;\tsigned:1;
\tfield:enum hrtimer_mode mode;\toffset:40;\tsize:4;\tsigned:0;
\tfield:bool was_armed;\toffset:44;\tsize:1;\tsigned:0;

print fmt: \"hrtimer=%p function=%ps\", REC->hrtimer, REC->function
";

    #[test]
    fn parses_hrtimer_start() {
        let f = parse_format(HRTIMER_START_6_18).unwrap();
        assert_eq!(f.len(), 10);
        let soft = f.iter().find(|x| x.name == "softexpires").unwrap();
        assert_eq!((soft.offset, soft.size, soft.signed), (32, 8, true));
        assert_eq!(soft.c_type, "s64");
        let h = f.iter().find(|x| x.name == "hrtimer").unwrap();
        assert_eq!(h.c_type, "void *");
        assert_eq!(f.iter().find(|x| x.name == "was_armed").unwrap().offset, 44);
    }

    #[test]
    fn parses_strings_and_arrays() {
        let text = "\tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;
\tfield:const char * action;\toffset:16;\tsize:8;\tsigned:0;
\tfield:char comm[16];\toffset:24;\tsize:16;\tsigned:0;
\tfield:const char *action2;\toffset:40;\tsize:8;\tsigned:0;";
        let f = parse_format(text).unwrap();
        let names: Vec<_> = f
            .iter()
            .map(|x| (x.c_type.as_str(), x.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("__data_loc char[]", "name"),
                ("const char *", "action"),
                ("char[16]", "comm"),
                ("const char *", "action2")
            ]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_format("hello").is_err());
        assert!(parse_format("field:int x; offset:zz; size:4;").is_err());
    }
}
