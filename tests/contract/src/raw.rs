//! HTTP/1.1 over a bare TCP connection, for the exchanges an HTTP client library cannot make:
//! a request written byte for byte (malformed heads, invalid UTF-8), and a response read even
//! when the server answers before reading the whole body and closes, which hyper's client
//! reports as a broken pipe instead of handing the response over.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// One response as read off the wire, body decoded.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// A well-formed request that closes its connection; `chunked` sends the body with
/// `transfer-encoding: chunked` instead of a `content-length`.
pub(crate) fn request(
    method: &Method,
    path: &str,
    (host, port): (&str, u16),
    content_type: Option<&str>,
    body: &[u8],
    chunked: bool,
) -> Vec<u8> {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n");
    if let Some(content_type) = content_type {
        head.push_str(&format!("content-type: {content_type}\r\n"));
    }
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    }
    let mut request = head.into_bytes();
    if chunked {
        for chunk in body.chunks(8192) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend_from_slice(body);
    }
    request
}

/// Writes `request` on a fresh connection to `host:port` while reading the response, so that a
/// response sent before the server has read everything is still received. The caller bounds
/// the time.
pub(crate) async fn exchange(
    (host, port): (&str, u16),
    request: &[u8],
) -> std::io::Result<RawResponse> {
    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    let (mut reader, mut writer) = stream.split();
    // Write errors are expected once the server has answered and stopped reading.
    let write = async {
        let _ = writer.write_all(request).await;
    };
    let read = read_response(&mut reader);
    tokio::pin!(write, read);
    let mut written = false;
    loop {
        tokio::select! {
            _ = &mut write, if !written => written = true,
            response = &mut read => break response,
        }
    }
}

/// Reads until one complete response is buffered (or the peer closes). A reset after some bytes
/// arrived ends the read too: the response was sent before the server dropped the connection.
async fn read_response<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<RawResponse> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(response) = parse_response(&buffer, false) {
            return Ok(response);
        }
        match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(_) if !buffer.is_empty() => break,
            Err(err) => return Err(err),
        }
    }
    parse_response(&buffer, true).ok_or_else(|| {
        std::io::Error::other(format!(
            "incomplete HTTP answer: {}",
            String::from_utf8_lossy(&buffer)
        ))
    })
}

/// Parses one HTTP/1.1 response; None while incomplete. `closed`: the peer closed, so a body
/// without length ends here.
fn parse_response(buffer: &[u8], closed: bool) -> Option<RawResponse> {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut slots);
    let head_len = match response.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(err) => panic!(
            "not an HTTP answer ({err}): {}",
            String::from_utf8_lossy(buffer)
        ),
    };
    let status = response.code.expect("a status code");
    let mut headers = HeaderMap::new();
    for header in response.headers.iter() {
        headers.append(
            HeaderName::from_bytes(header.name.as_bytes()).expect("a header name"),
            HeaderValue::from_bytes(header.value).expect("a header value"),
        );
    }
    let rest = &buffer[head_len..];
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = headers
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if status == 204 || status == 304 {
        Vec::new()
    } else if let Some(length) = length {
        rest.get(..length)?.to_vec()
    } else if chunked {
        decode_chunked(rest)?
    } else if closed {
        rest.to_vec()
    } else {
        return None;
    };
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

/// Decodes a complete chunked body; None while incomplete.
fn decode_chunked(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).expect("a chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_responses_parse_with_length_or_chunks_and_wait_when_incomplete() {
        let fixed = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\nx-a: 1\r\n\r\n{}";
        let response = parse_response(fixed, false).unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (413, &b"{}"[..])
        );
        assert_eq!(response.headers["x-a"], "1");
        assert!(parse_response(&fixed[..fixed.len() - 1], false).is_none());
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{\"\r\n1;x=y\r\n}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked, false).unwrap().body, b"{\"}");
        assert!(parse_response(&chunked[..chunked.len() - 5], false).is_none());
    }
}
