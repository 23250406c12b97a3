//! The windows `monitor` saves: their names, writing one whole (to a `.partial` name, then
//! renamed, so whatever picks the files up never sees half of one), keeping the directory
//! within --max-files and --max-disk, and the --on-trigger command.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use super::window::View;

/// Every saved window's name starts so; only such files are ever removed.
const PREFIX: &str = "serial-trace-";
const SUFFIX: &str = ".trace";

/// `serial-trace-20261206T013700Z-drops-gt-0.trace`: UTC time (names sort by it), then the
/// rule with its operator spelt out and anything a file name should not hold replaced.
pub fn file_name(at: SystemTime, rule: &str) -> String {
    let time: String = humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let mut r = rule.replace(' ', "");
    for (op, word) in [
        (">=", "-ge-"),
        ("<=", "-le-"),
        ("==", "-eq-"),
        (">", "-gt-"),
        ("<", "-lt-"),
        ("=", "-eq-"),
        ("[", "-"),
        ("]", ""),
    ] {
        r = r.replace(op, word);
    }
    let r: String = r
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{PREFIX}{time}-{r}{SUFFIX}")
}

/// The saved windows in `dir`, oldest first, with their sizes.
fn saved_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, u64)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(PREFIX) && name.ends_with(SUFFIX)
        })
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            m.is_file().then(|| (e.path(), m.len()))
        })
        .collect();
    files.sort();
    files
}

/// Removes the oldest saved windows until `incoming` more bytes in one more file keep `dir`
/// within both limits. Returns the files removed.
pub fn make_room(dir: &Path, incoming: u64, max_files: u32, max_disk: u64) -> Vec<PathBuf> {
    let mut files = saved_files(dir);
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    let mut removed = Vec::new();
    while !files.is_empty() && (files.len() + 1 > max_files as usize || total + incoming > max_disk)
    {
        let (path, len) = files.remove(0);
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            removed.push(path);
        }
    }
    removed
}

/// Writes `view` to `dir/name` (mode 0600) through `name.partial`, synced. A name already
/// taken gets `-2`, `-3`, … before the extension.
pub fn write(dir: &Path, name: &str, view: &View) -> Result<PathBuf> {
    let stem = name.strip_suffix(SUFFIX).unwrap_or(name);
    let path = (1..)
        .map(|n| match n {
            1 => dir.join(name),
            n => dir.join(format!("{stem}-{n}{SUFFIX}")),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("a free name");
    let mut partial = path.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)?;
        for part in &view.parts {
            f.write_all(part)?;
        }
        f.sync_all()?;
        std::fs::rename(&partial, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(path)
}

/// `--on-trigger`: `sh -c CMD serial-trace FILE`, in the background.
pub fn run_hook(cmd: &str, file: &Path, rule: &str) -> Result<Child> {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .arg("serial-trace")
        .arg(file)
        .env("SERIAL_TRACE_FILE", file)
        .env("SERIAL_TRACE_RULE", rule)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run --on-trigger {cmd:?}"))
}

/// How long the monitor waits, when it stops, for --on-trigger commands still running.
pub const HOOK_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_spell_the_rule_out() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_521_020);
        assert_eq!(
            file_name(at, "drops[ttyS1] > 0"),
            "serial-trace-20261206T013700Z-drops-ttyS1-gt-0.trace"
        );
        assert_eq!(
            file_name(at, "wakeup_late>=50ms"),
            "serial-trace-20261206T013700Z-wakeup_late-ge-50ms.trace"
        );
        assert_eq!(
            file_name(at, "a/b"),
            "serial-trace-20261206T013700Z-a_b.trace"
        );
    }

    #[test]
    fn the_oldest_windows_go_first_and_nothing_else_is_touched() {
        let dir = std::env::temp_dir().join(format!("st-saved-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, len) in [
            ("serial-trace-20261206T010000Z-a.trace", 100),
            ("serial-trace-20261206T020000Z-a.trace", 100),
            ("serial-trace-20261206T030000Z-a.trace", 100),
            ("notes.txt", 1000),
        ] {
            std::fs::write(dir.join(name), vec![0u8; len]).unwrap();
        }
        // three files, at most three: one goes for the next
        let removed = make_room(&dir, 10, 3, 10_000);
        assert_eq!(removed, [dir.join("serial-trace-20261206T010000Z-a.trace")]);
        // 200 bytes held, 150 more within 300: one more goes
        let removed = make_room(&dir, 150, 10, 300);
        assert_eq!(removed, [dir.join("serial-trace-20261206T020000Z-a.trace")]);
        assert!(dir.join("notes.txt").exists());
        let view = View {
            parts: vec![b"abc".to_vec().into(), b"def".to_vec().into()],
            events: 0,
            bytes: 6,
            start: Default::default(),
        };
        let a = write(&dir, "serial-trace-x.trace", &view).unwrap();
        let b = write(&dir, "serial-trace-x.trace", &view).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"abcdef");
        assert_eq!(b, dir.join("serial-trace-x-2.trace"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&b).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
