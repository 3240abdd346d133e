//! `curl` against the server's HTTP listener: a real client nobody here wrote, for JSON
//! calls and for server-sent event streams read as they arrive.

#![allow(dead_code)] // each test crate uses part of the harness
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn curl() -> Command {
    let mut cmd = Command::new("curl");
    // No `Expect: 100-continue` before large bodies: one status line per answer.
    cmd.args(["-sS", "-i", "-H", "Expect:"]);
    cmd
}

/// `METHOD url` with a body (sent from a file, whatever its size) and extra headers.
pub fn call(method: &str, url: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> Reply {
    let mut cmd = curl();
    cmd.args(["-X", method, url]);
    for (name, value) in headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    let file = body.map(|body| {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(body).expect("write body");
        file
    });
    if let Some(file) = &file {
        cmd.args(["-H", "content-type: application/json", "--data-binary"])
            .arg(format!("@{}", file.path().display()));
    }
    let out = cmd.output().expect("run curl (is it installed?)");
    assert!(
        out.status.success(),
        "curl {method} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&out.stdout)
}

/// `POST url` of a JSON body.
pub fn post(url: &str, body: &str) -> Reply {
    call("POST", url, Some(body.as_bytes()), &[])
}

/// `GET url`.
pub fn get(url: &str) -> Reply {
    call("GET", url, None, &[])
}

fn parse(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {headers:?}"));
    Reply {
        status,
        headers,
        body: raw.get(split + 4..).unwrap_or_default().to_vec(),
    }
}

/// A server-sent event stream being read from a running curl.
pub struct Events {
    pub child: Child,
    lines: BufReader<ChildStdout>,
}

impl Events {
    /// Starts `POST url` of `body`, reading the events as they come (`curl -N`).
    pub fn start(url: &str, body: &str, headers: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-N",
            "-X",
            "POST",
            url,
            "-H",
            "content-type: application/json",
        ]);
        for (name, value) in headers {
            cmd.arg("-H").arg(format!("{name}: {value}"));
        }
        cmd.arg("--data-binary").arg(body);
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("run curl (is it installed?)");
        let lines = BufReader::new(child.stdout.take().expect("stdout"));
        Self { child, lines }
    }

    /// The next event's name and data; `None` at the end of the stream.
    pub fn next(&mut self) -> Option<(String, String)> {
        let (mut name, mut data) = ("message".to_string(), None::<String>);
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).expect("read the stream") == 0 {
                return data.map(|d| (name, d));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if let Some(data) = data {
                    return Some((name, data));
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data = Some(v.trim_start().to_string());
            }
        }
    }

    /// Every remaining event.
    pub fn rest(&mut self) -> Vec<(String, String)> {
        std::iter::from_fn(|| self.next()).collect()
    }

    /// Closes the connection, as a client that goes away does.
    pub fn hang_up(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The events of a whole stream.
pub fn stream(url: &str, body: &str) -> Vec<(String, String)> {
    let mut events = Events::start(url, body, &[]);
    let all = events.rest();
    let _ = events.child.wait();
    all
}
