//! A component that traps gets a 500 for that request only: the runtime
//! keeps serving the next requests, to the same component and to others.
//! Needs the fixture built for wasm32-wasip2 (`scripts/test` does it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Kills the runtime when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn target_dir() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_booking-host"));
    // <target>/<profile>/booking-host
    bin.parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .expect("the runtime binary lives in <target>/<profile>")
}

/// One HTTP/1.1 request on a fresh connection; returns the status code.
fn status_of(address: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(address).expect("connect to the runtime");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[test]
fn a_trap_fails_only_its_own_request() {
    let wasm = target_dir().join("wasm32-wasip2/release/trap_fixture.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: run scripts/test (it builds the fixture with the components)",
        wasm.display()
    );
    let dir = std::env::temp_dir().join(format!("booking-host-trap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    let manifest = dir.join("spin.toml");
    let toml = format!(
        "spin_manifest_version = 2\n[application]\nname = \"trap\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"trap\"\n\
         [component.trap]\nsource = {:?}\n",
        wasm.display().to_string()
    );
    std::fs::write(&manifest, toml).expect("write the fixture manifest");
    let child = Command::new(env!("CARGO_BIN_EXE_booking-host"))
        .args(["up", "--in-memory", "--listen", "127.0.0.1:0", "--from"])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the runtime");
    let mut server = Server(child);
    let stdout = server.0.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the Serving line");
    let address = line
        .trim()
        .strip_prefix("Serving http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    assert_eq!(status_of(&address, "/fine"), 200);
    for _ in 0..3 {
        assert_eq!(status_of(&address, "/trap"), 500);
        assert_eq!(status_of(&address, "/fine"), 200);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
