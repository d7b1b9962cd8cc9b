//! A TCP proxy between `ckplan` and the emulator that holds one `records/modify` request
//! (or another request, by its request line's end: [`HoldProxy::start_matching`])
//! until the test says what becomes of it, so a test that must act while a batch is in
//! flight (kill, signal, start a second apply) waits on that event, never on a latency
//! window that a loaded machine can miss (issue 17).
//!
//! The proxy copies bytes both ways and counts request lines of `records/modify` in what
//! the client sends; the chosen one (1-based) and everything after it on its connection
//! stay with the proxy until [`HoldProxy::release`] forwards them or [`HoldProxy::discard`]
//! closes the connection unsent. Later requests pass.
//!
//! The proxy never lets go of the held request on its own: it holds it for as long as the
//! test does. ckplan, though, gives up on a request after its request timeout (60 s); a
//! test whose hold must outlast that (one that proves the process quit while the request
//! was in flight) runs ckplan with `--request-timeout 0`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The request line of a modify, as every HTTP/1.1 client writes it.
pub const MODIFY: &[u8] = b"/records/modify HTTP/1.1";

/// The request line of an upload-URL request (`assets/upload`; not the bytes' `POST` to
/// `/_assets/upload/{token}`).
pub const ASSETS_UPLOAD: &[u8] = b"/assets/upload HTTP/1.1";

/// The request line of a schema import (`PUT …/environments/{ENV}/schema`); the export
/// and validate paths go on (`/schema/export`), so only the import matches.
pub const SCHEMA_IMPORT: &[u8] = b"/schema HTTP/1.1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The chosen request has not been seen yet.
    Waiting,
    Held,
    Released,
    Discarded,
}

struct State {
    seen: u64,
    hold: u64,
    phase: Phase,
    closed: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

pub struct HoldProxy {
    url: String,
    address: std::net::SocketAddr,
    shared: Shared,
}

impl HoldProxy {
    /// A proxy on 127.0.0.1 to `upstream` (`http://127.0.0.1:PORT`) that holds its `hold`-th
    /// `records/modify` request.
    pub fn start(upstream: &str, hold: u64) -> Self {
        Self::start_matching(upstream, MODIFY, hold)
    }

    /// A proxy on 127.0.0.1 to `upstream` that holds the `hold`-th request whose request
    /// line ends in `marker` (its path and `HTTP/1.1`).
    pub fn start_matching(upstream: &str, marker: &'static [u8], hold: u64) -> Self {
        let target = upstream
            .strip_prefix("http://")
            .expect("an http upstream")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listens");
        let address = listener.local_addr().expect("proxy address");
        let shared: Shared = Arc::new((
            Mutex::new(State {
                seen: 0,
                hold,
                phase: Phase::Waiting,
                closed: false,
            }),
            Condvar::new(),
        ));
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.0.lock().unwrap().closed {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let shared = accepting.clone();
                std::thread::spawn(move || forward(client, server, &shared, marker));
            }
        });
        Self {
            url: format!("http://{address}"),
            address,
            shared,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Blocks until the chosen request has arrived and is held. (The bound only turns a
    /// run that never sends it into a failure instead of a hang.)
    pub fn wait_held(&self) {
        let (lock, condvar) = &*self.shared;
        let started = Instant::now();
        let mut state = lock.lock().unwrap();
        while state.phase == Phase::Waiting {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "request {} never came ({} seen)",
                state.hold,
                state.seen
            );
            state = condvar
                .wait_timeout(state, Duration::from_millis(200))
                .unwrap()
                .0;
        }
    }

    /// Whether the chosen request is held now: it came and was neither released nor
    /// discarded.
    pub fn is_held(&self) -> bool {
        self.shared.0.lock().unwrap().phase == Phase::Held
    }

    /// Sends the held request on, and lets everything after it pass.
    pub fn release(&self) {
        self.settle(Phase::Released);
    }

    /// Never sends the held request: its connection is closed, as by a network cut.
    pub fn discard(&self) {
        self.settle(Phase::Discarded);
    }

    fn settle(&self, phase: Phase) {
        let (lock, condvar) = &*self.shared;
        let mut state = lock.lock().unwrap();
        assert_eq!(state.phase, Phase::Held, "no request is held");
        state.phase = phase;
        condvar.notify_all();
    }
}

impl Drop for HoldProxy {
    fn drop(&mut self) {
        let (lock, condvar) = &*self.shared;
        let mut state = lock.lock().unwrap();
        state.closed = true;
        if state.phase == Phase::Held {
            state.phase = Phase::Discarded;
        }
        condvar.notify_all();
        drop(state);
        // Wakes the accepting thread so it sees `closed`.
        let _ = TcpStream::connect(self.address);
    }
}

/// Copies `client` to `server` (holding the chosen request) and `server` back to `client`.
fn forward(mut client: TcpStream, mut server: TcpStream, shared: &Shared, marker: &[u8]) {
    let (Ok(mut replies), Ok(mut back)) = (server.try_clone(), client.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut replies, &mut back);
        let _ = back.shutdown(Shutdown::Both);
    });
    let mut buffer = [0_u8; 16 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let read = match client.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let mut window = std::mem::take(&mut tail);
        window.extend_from_slice(&buffer[..read]);
        let found = window
            .windows(marker.len())
            .filter(|w| *w == marker)
            .count() as u64;
        if found > 0 && !pass(shared, found) {
            break;
        }
        if server.write_all(&buffer[..read]).is_err() {
            break;
        }
        tail = window[window.len().saturating_sub(marker.len() - 1)..].to_vec();
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
}

/// Counts `found` modify requests; holds this one if it is the chosen one. Whether to
/// forward it.
fn pass(shared: &Shared, found: u64) -> bool {
    let (lock, condvar) = &**shared;
    let mut state = lock.lock().unwrap();
    state.seen += found;
    if state.phase != Phase::Waiting || state.seen < state.hold {
        return true;
    }
    state.phase = Phase::Held;
    condvar.notify_all();
    while state.phase == Phase::Held {
        state = condvar.wait(state).unwrap();
    }
    state.phase == Phase::Released
}
