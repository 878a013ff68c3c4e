//! Running one test of this test binary again in a child process with an
//! environment of its own (`SSL_CERT_FILE` and the like are read
//! process-wide, and setting them in-process would need `unsafe`), and a
//! scratch directory for the files such a child reads.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The parent kills a child after this long.
pub const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// Runs the test `name` (its full path, e.g. `native_roots::child`) of the
/// current test binary in a child process, with `remove` taken out of its
/// environment and then `set` put in. Fails unless the child exits
/// successfully within [`CHILD_LIMIT`] and prints `done` (which shows the
/// child test ran, rather than being filtered out, and did its work rather
/// than returning early). Returns the child's output.
pub fn run_child_test(name: &str, remove: &[&str], set: &[(&str, OsString)], done: &str) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in remove {
        command.env_remove(var);
    }
    command.envs(set.iter().map(|(name, value)| (name, value)));
    let mut child = command.spawn().unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        stdout.join().unwrap(),
        stderr.join().unwrap()
    );
    let status = status.unwrap_or_else(|| panic!("the child took over {CHILD_LIMIT:?}\n{output}"));
    assert!(status.success(), "the child failed ({status})\n{output}");
    assert!(output.contains(done), "the child did not run\n{output}");
    output
}

/// A fresh directory under the system's temporary directory, removed
/// (with its contents) when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// `label` tells concurrent tests' directories apart; the process id,
    /// concurrent runs'.
    pub fn new(label: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("wsock-tls-test-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in the directory; returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
