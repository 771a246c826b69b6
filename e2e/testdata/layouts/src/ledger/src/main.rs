//! ledger answers with an account balance on :8080, in the standard
//! library alone.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// Formats an amount of cents as a decimal string.
fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{}{}.{:02}", sign, cents.abs() / 100, cents.abs() % 100)
}

/// The status line and body for a request path.
fn respond(path: &str) -> (&'static str, String) {
    match path {
        "/health/ready" => ("200 OK", "ok\n".to_string()),
        "/" => ("200 OK", format!("balance {}\n", format_cents(12345))),
        _ => ("404 Not Found", "not found\n".to_string()),
    }
}

fn main() {
    let listener = TcpListener::bind("0.0.0.0:8080").expect("listening on :8080");
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(_) => continue,
        };
        let mut line = String::new();
        if BufReader::new(&stream).read_line(&mut line).is_err() {
            continue;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/");
        let (status, body) = respond(path);
        let _ = write!(
            stream,
            "HTTP/1.1 {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            status,
            body.len(),
            body
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_cents() {
        assert_eq!(format_cents(12345), "123.45");
        assert_eq!(format_cents(-5), "-0.05");
    }

    #[test]
    fn answers_health_and_root() {
        assert_eq!(respond("/health/ready").0, "200 OK");
        assert!(respond("/").1.starts_with("balance 123.45"));
        assert_eq!(respond("/nope").0, "404 Not Found");
    }
}
