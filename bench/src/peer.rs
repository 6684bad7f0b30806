//! The Python peers as child processes: each loads the model once, then answers one case per
//! request line (`bench/peer/peer.py` documents the protocol). This module owns starting,
//! talking to and stopping them; it knows nothing of the cases' types.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use serde_json::Value;

use crate::cases::{Case, Outcome};

/// A running peer.
pub struct Peer {
    /// How the report names it, e.g. `instructor 1.9.0 + llama-cpp-python 0.3.36`.
    pub label: String,
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
    log: PathBuf,
}

impl Peer {
    /// Starts `python bench/peer/peer.py` and waits until it has loaded the model.
    pub fn start(
        python: &Path,
        script: &Path,
        model: &Path,
        threads: usize,
        log: PathBuf,
    ) -> Result<Peer, String> {
        if !python.exists() {
            return Err(format!(
                "{} is missing; run `scripts/setup.sh --peer` first (it builds llama-cpp-python)",
                python.display()
            ));
        }
        let stderr = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(python)
            .arg(script)
            .arg("--model")
            .arg(model)
            .arg("--threads")
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the peer's pipes are missing".into());
        };
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(reply) = line.strip_prefix("@@") {
                    if tx.send(reply.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut peer = Peer {
            label: String::new(),
            child,
            stdin,
            replies,
            log,
        };
        let ready = peer.reply(Duration::from_secs(300))?;
        let version = |k: &str| ready[k].as_str().unwrap_or("?").to_owned();
        peer.label = format!(
            "instructor {} + llama-cpp-python {}",
            version("instructor"),
            version("llama_cpp_python")
        );
        Ok(peer)
    }

    /// Runs one case; `timeout` bounds a peer that hangs.
    pub fn run(&mut self, case: &Case, timeout: Duration) -> Result<Outcome, String> {
        let request = serde_json::json!({"case": case.id, "prompt": case.prompt});
        writeln!(self.stdin, "{request}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("{}: cannot send the case: {e}", self.label))?;
        let r = self.reply(timeout)?;
        Ok(Outcome {
            output: r.get("output").filter(|v| !v.is_null()).cloned(),
            raw: r["raw"].as_str().map(str::to_owned),
            error: r["error"].as_str().map(str::to_owned),
            seconds: r["seconds"].as_f64().unwrap_or(f64::NAN),
            attempts: r["attempts"].as_u64().unwrap_or(0) as usize,
            completion_tokens: r["completion_tokens"].as_u64().unwrap_or(0),
            prompt_tokens: r["prompt_tokens"].as_u64().unwrap_or(0),
            usage: None,
        })
    }

    fn reply(&mut self, timeout: Duration) -> Result<Value, String> {
        match self.replies.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line)
                .map_err(|e| format!("{}: unreadable reply {line:?}: {e}", self.label)),
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "the peer gave no reply within {timeout:?}; see {}",
                self.log.display()
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err(format!("the peer exited; see {}", self.log.display()))
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
