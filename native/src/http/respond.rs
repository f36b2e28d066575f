//! Writing HTTP responses: static files and short error pages. One request per connection.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use smol::future::FutureExt;
use smol::io::AsyncWriteExt;
use smol::{Async, Timer};

use super::files::{content_type, resolve, Resolved};
use super::head::Head;
use super::WebConfig;

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

fn header_block(code: u16, content_type: &str, len: u64, extra: &str) -> String {
    format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         X-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\nConnection: close\r\n{extra}\r\n",
        reason(code)
    )
}

/// A whole response: a status and a one-line text body.
pub(crate) fn status_response(code: u16, extra_headers: &str) -> String {
    let body = format!("{code} {}\n", reason(code));
    let mut out = header_block(
        code,
        "text/plain; charset=utf-8",
        body.len() as u64,
        extra_headers,
    );
    out.push_str(&body);
    out
}

/// Answers with a status and a one-line text body, then ends the stream.
pub(crate) async fn status(sock: &Async<TcpStream>, code: u16, extra_headers: &str) {
    let out = status_response(code, extra_headers);
    let _ = write_all(sock, out.as_bytes()).await;
    let _ = sock.get_ref().shutdown(Shutdown::Write);
}

/// Answers a GET or HEAD with a file from the web root, or the error that says why not, by
/// the download's deadline ([`WebConfig::download_time`] from `started`, when the request
/// came): a client that reads slower is cut off.
pub(crate) async fn static_file(
    sock: &Async<TcpStream>,
    web: &WebConfig,
    head: &Head,
    started: Instant,
) {
    // The length of the body: known once the file is found; until then, none.
    let body = Cell::new(0);
    let deadline = || started + web.download_time(body.get());
    let answer = answer(sock, web, head, &body);
    let cut = async {
        while Instant::now() < deadline() {
            Timer::at(deadline()).await;
        }
        log::debug!(
            "{} {}: download cut off at its deadline",
            head.method,
            head.target
        );
    };
    answer.or(cut).await;
}

/// The answer to a request; `body_len` is set to the body's length once known.
async fn answer(sock: &Async<TcpStream>, web: &WebConfig, head: &Head, body_len: &Cell<u64>) {
    let code = match serve_file(sock, web, head, body_len).await {
        Ok(()) => {
            let _ = sock.get_ref().shutdown(Shutdown::Write);
            return;
        }
        Err(Some(code)) => code,
        Err(None) => return,
    };
    let allow = if code == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    status(sock, code, allow).await;
}

/// Sends the file; `Err(Some(status))` for an answer still to give, `Err(None)` when the
/// connection failed half-way.
async fn serve_file(
    sock: &Async<TcpStream>,
    web: &WebConfig,
    head: &Head,
    body_len: &Cell<u64>,
) -> Result<(), Option<u16>> {
    let body = match head.method.as_str() {
        "GET" => true,
        "HEAD" => false,
        _ => return Err(Some(405)),
    };
    let Some(root) = web.root.as_deref() else {
        return not_built(sock, head, body).await;
    };
    let path = match resolve(root, &head.target) {
        Resolved::File(path) => path,
        Resolved::BadRequest => return Err(Some(400)),
        Resolved::Forbidden => return Err(Some(403)),
        Resolved::NotFound => return Err(Some(404)),
    };
    let mut file = File::open(&path).map_err(|_| Some(404))?;
    let len = file.metadata().map_err(|_| Some(500))?.len();
    if body {
        body_len.set(len);
    }
    let headers = header_block(200, content_type(&path), len, "");
    write_all(sock, headers.as_bytes())
        .await
        .map_err(|_| None)?;
    if !body {
        return Ok(());
    }
    let mut chunk = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < len {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        write_all(sock, &chunk[..n]).await.map_err(|_| None)?;
        sent += n as u64;
    }
    // A file that shrank while being sent: the client sees a short body, not a wrong one.
    if sent < len {
        return Err(None);
    }
    Ok(())
}

/// The page that stands in for the exhibit at `/` when the server has no web root.
const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>jsocket: exhibit not built</title></head>\n<body>\n<h1>The web exhibit is not built</h1>\n\
<p>This jsocket server has no web root to serve. Run <code>./www/build.sh</code> in the source \
tree, then restart the server, or pass <code>--web DIR</code> to serve a directory.</p>\n\
<p>jsocket and WebSocket clients are served on this port all the same.</p>\n</body></html>\n";

/// Without a web root only `/` answers (with [`NOT_BUILT`]); every other path is not there.
async fn not_built(sock: &Async<TcpStream>, head: &Head, body: bool) -> Result<(), Option<u16>> {
    let path = head.target.split(['?', '#']).next().unwrap_or_default();
    if path != "/" {
        return Err(Some(404));
    }
    let mut out = header_block(200, "text/html; charset=utf-8", NOT_BUILT.len() as u64, "");
    if body {
        out.push_str(NOT_BUILT);
    }
    write_all(sock, out.as_bytes()).await.map_err(|_| None)
}

async fn write_all(sock: &Async<TcpStream>, bytes: &[u8]) -> io::Result<()> {
    let mut w = sock;
    w.write_all(bytes).await?;
    w.flush().await
}
