//! `peerhost-node` as a real process: the binary the workspace's test build leaves next to the
//! test executables (with the test-only `test-utils` feature, so `--byzantine` exists), run
//! from the repository root, its stdout lines on a channel, stopped with SIGINT (then killed)
//! when dropped, or killed outright with SIGKILL as a crash would. `node/tests` includes this
//! file too.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// The `peerhost-node` binary of this build (`target/<profile>/peerhost-node`).
///
/// # Panics
///
/// If it is missing: build the workspace's tests together (`cargo nextest run --workspace`).
pub fn peerhost_bin() -> PathBuf {
    workspace_bin("peerhost-node")
}

/// A binary of this build (`target/<profile>/<name>`): `peerhost-node`, `peerhost-bootstrap`.
///
/// # Panics
///
/// If it is missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let profile = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo nextest run --workspace`",
        bin.display()
    );
    bin
}

/// The identity `peerhost-node id` prints for a data dir (creating its keys): peer id and
/// wallet address.
///
/// # Panics
///
/// If the command fails.
pub fn identity(data_dir: &Path) -> (String, String) {
    let out = Command::new(peerhost_bin())
        .arg("id")
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("peerhost-node runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} line in {text}"))
            .to_owned()
    };
    (field("peer "), field("owner "))
}

/// A running `peerhost-node`.
pub struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Process {
    /// Starts `peerhost-node <args> --data-dir <data_dir>` from the repository root with
    /// warnings-only logs.
    ///
    /// # Panics
    ///
    /// If it cannot start.
    pub fn spawn(args: &[&str], data_dir: &Path) -> Self {
        Self::start(Command::new(peerhost_bin()), args, data_dir, "warn")
    }

    /// Starts `<bin> <args> --data-dir <data_dir>` inside network namespace `netns` (through
    /// `ip netns exec`), logging as `log` says.
    ///
    /// # Panics
    ///
    /// If it cannot start.
    pub fn spawn_in(netns: &str, bin: &Path, args: &[&str], data_dir: &Path, log: &str) -> Self {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", netns]).arg(bin);
        Self::start(command, args, data_dir, log)
    }

    fn start(mut command: Command, args: &[&str], data_dir: &Path, log: &str) -> Self {
        let mut child = command
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("in the repo"))
            .env("PEERHOST_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("peerhost-node starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The first stdout line starting with `prefix`, within `timeout`.
    ///
    /// # Panics
    ///
    /// If none comes, or the process exits first.
    pub fn wait_for(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line starting with {prefix:?}: {e}"),
            }
        }
    }

    /// Sends SIGINT and waits for the exit, as Ctrl-C would.
    ///
    /// # Panics
    ///
    /// If it has not exited 20 s later.
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit after SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it with SIGKILL (no chance to clean up, as in a crash or an OOM kill) and reaps it.
    ///
    /// # Panics
    ///
    /// If it cannot be signalled.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the killed process is reaped");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Reaped already (killed or interrupted): its pid may belong to another process now.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
