//! A tiny HTTP/1.1 server on 127.0.0.1 for tests of code that downloads: a thread per
//! connection, one request per connection (`Connection: close`), answers from a handler, and a
//! log of every request it saw.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, ...
    pub method: String,
    /// The path with its query, as sent.
    pub path: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: status, extra headers (Content-Length is added) and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// `200`, `206`, `404`, ...
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Send only this many bytes of the body (Content-Length still announces all of it), then
    /// close: a connection that drops mid-download.
    pub cut_after: Option<usize>,
}

impl Response {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            cut_after: None,
        }
    }
}

/// The requests a server saw, in order.
pub type Log = Arc<Mutex<Vec<Request>>>;

/// Starts a server answering with `handler`; returns its base URL (`http://127.0.0.1:PORT`) and
/// its request log. It runs until the test process ends.
pub fn serve(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let seen = log.clone();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (handler, seen) = (handler.clone(), seen.clone());
            std::thread::spawn(move || answer(stream, &*handler, &seen));
        }
    });
    (base, log)
}

fn answer(mut stream: TcpStream, handler: &dyn Fn(&Request) -> Response, log: &Log) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut parts = request_line.split_whitespace();
    let request = Request {
        method: parts.next().unwrap_or("").to_string(),
        path: parts.next().unwrap_or("").to_string(),
        headers,
    };
    let response = handler(&request);
    log.lock().unwrap().push(request);
    let reason = match response.status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (k, v) in &response.headers {
        head += &format!("{k}: {v}\r\n");
    }
    let _ = stream.write_all(format!("{head}\r\n").as_bytes());
    let sent = response.cut_after.unwrap_or(response.body.len());
    let _ = stream.write_all(&response.body[..sent.min(response.body.len())]);
    let _ = stream.flush();
    // Drain anything left so the client never sees a reset.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = reader.read(&mut [0; 64]);
}
