//! Issue 20's safety findings, through the binary: credentials never follow a redirect to
//! another host, a tampered plan's schema part cannot inject schema text, the managed
//! `Users` type gets no grants, and a plan applies its schema to the team it was made for.

use crate::common::{Env, Run, CONTAINER};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "safety-token-7d21b0";
const TEAM: &str = "TEAM123456";

/// Everything a listener on 127.0.0.1 received, one request head per connection.
type Heads = Arc<Mutex<Vec<String>>>;

/// The head of one request (up to the blank line), lossily as text.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A listener on 127.0.0.1 answering every request with `reply(port)`, where `port` is its
/// own; the request heads it received.
fn listen(reply: impl Fn(u16) -> String + Send + 'static) -> (u16, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let head = read_head(&mut stream);
            seen.lock().unwrap().push(head);
            let _ = stream.write_all(reply(port).as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    (port, heads)
}

/// A first server that redirects every request, with its path, to a second one on another
/// port, which would answer 200 with a valid empty schema.
fn redirecting() -> (String, Heads, Heads) {
    let (second, second_heads) = listen(|_| {
        let body = "DEFINE SCHEMA\n";
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    });
    let (first, first_heads) = listen(move |_| {
        format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{second}/elsewhere\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        )
    });
    (
        format!("http://127.0.0.1:{first}"),
        first_heads,
        second_heads,
    )
}

fn run(env: &Env, token: Option<&str>, args: &[&str]) -> Run {
    let mut command = env.ckplan();
    if let Some(token) = token {
        command.env("CKPLAN_MANAGEMENT_TOKEN", token);
    }
    let output = command.args(args).output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: env.filter(&String::from_utf8(output.stdout).unwrap()),
        stderr: env.filter(&String::from_utf8(output.stderr).unwrap()),
    }
}

/// The project's config with `endpoint:` replaced by `url` and `team_id:` added.
fn point_at(env: &Env, url: &str) {
    let config = env.read("ckplan.yaml").replace(env.url(), url);
    env.write("ckplan.yaml", &format!("team_id: {TEAM}\n{config}"));
}

#[test]
fn issue_20_the_management_token_never_follows_a_redirect() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let (url, first, second) = redirecting();
    point_at(&env, &url);
    let diff = run(&env, Some(TOKEN), &["schema", "diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stderr.contains("with a redirect (HTTP 302)"),
        "{}",
        diff.stderr
    );
    assert!(!diff.stderr.contains(TOKEN), "{}", diff.stderr);
    let first = first.lock().unwrap().join("");
    assert!(
        first
            .to_ascii_lowercase()
            .contains(&format!("x-apple-cloudkit-management-token: {TOKEN}")),
        "{first}"
    );
    let second = second.lock().unwrap();
    assert!(second.is_empty(), "{second:?}");
}

#[test]
fn issue_20_a_signed_records_request_never_follows_a_redirect() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let (url, first, second) = redirecting();
    point_at(&env, &url);
    let diff = run(&env, None, &["diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stderr.contains("redirect (http 302)"),
        "{}",
        diff.stderr
    );
    let first = first.lock().unwrap().join("").to_ascii_lowercase();
    assert!(
        first.contains("x-apple-cloudkit-request-signaturev1:"),
        "{first}"
    );
    let second = second.lock().unwrap();
    assert!(second.is_empty(), "{second:?}");
}
