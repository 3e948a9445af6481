//! OTLP over gRPC without tonic: a unary call is one HTTP/2 POST to
//! `/opentelemetry.proto.collector.trace.v1.TraceService/Export` with `content-type: application/grpc` and
//! `te: trailers`, its body the protobuf message behind a 5-byte prefix (0: uncompressed, then the length as
//! a big-endian u32). The answer's verdict is the `grpc-status` trailer, or header in a trailers-only
//! answer, with `grpc-message` percent-encoded. The h2 crate carries that in this file; tonic's transport
//! would bring tower and hyper's client for the same call.
//!
//! One connection (h2c with prior knowledge for `http://`, TLS with ALPN `h2` for `https://`), reused for
//! every batch and made again when it breaks. Every call, connecting included, is bounded by the export
//! timeout; a call that runs out of time closes the connection, since a collector that hangs one stream is
//! not trusted with the next.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::header::{CONTENT_TYPE, TE};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::ExportConfig;

/// The method every OTLP/gRPC trace export calls.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Why a call failed. Never names the endpoint's path or query, nor any metadata.
#[derive(Debug, thiserror::Error)]
pub(super) enum GrpcError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the collector does not speak HTTP/2 over TLS (no ALPN h2): is it the OTLP/HTTP port?")]
    NoH2,
    #[error("HTTP/2: {0}")]
    H2(#[from] h2::Error),
    #[error("the collector answered HTTP {0}, not a gRPC answer")]
    HttpStatus(u16),
    #[error("the collector answered gRPC status {code} ({}){}", code_name(*.code), message_suffix(.message))]
    Status { code: u32, message: String },
    #[error("the answer carried no grpc-status")]
    NoStatus,
    #[error("no answer within {}", crate::units::format_duration(*.0))]
    Timeout(Duration),
}

/// The gRPC status codes' names, for the log.
fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("unknown code")
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The HTTP/2 connection to one collector, made on first use.
pub(super) struct Channel {
    /// Cloned for every call (h2 multiplexes); `None`: not connected, or the connection broke.
    send: Option<SendRequest<Bytes>>,
    /// Drives the connection's frames; aborted when the connection is given up.
    driver: Option<JoinHandle<()>>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.close();
    }
}

impl Channel {
    pub(super) fn new() -> Channel {
        Channel { send: None, driver: None }
    }

    fn close(&mut self) {
        self.send = None;
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
    }

    /// One `Export` call with `body` (an encoded `ExportTraceServiceRequest`), within the export timeout.
    pub(super) async fn export(&mut self, config: &ExportConfig, body: Vec<u8>) -> Result<(), GrpcError> {
        let outcome = tokio::time::timeout(config.timeout, self.call(config, frame(&body))).await;
        let outcome = outcome.unwrap_or(Err(GrpcError::Timeout(config.timeout)));
        if matches!(outcome, Err(GrpcError::Timeout(_) | GrpcError::H2(_))) {
            self.close();
        }
        outcome
    }

    async fn call(&mut self, config: &ExportConfig, message: Bytes) -> Result<(), GrpcError> {
        let mut send = match self.ready().await {
            Some(send) => send,
            None => {
                self.connect(config).await?;
                let closed = || GrpcError::Connect(std::io::Error::other("the connection closed after the handshake"));
                self.ready().await.ok_or_else(closed)?
            }
        };
        let (response, mut stream) = send.send_request(request(config)?, false)?;
        stream.send_data(message, true)?;
        let (parts, mut body) = response.await?.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err(GrpcError::HttpStatus(parts.status.as_u16()));
        }
        // A trailers-only answer (the usual form of an error) puts the status in the headers.
        if parts.headers.contains_key("grpc-status") {
            return verdict(&parts.headers);
        }
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        match body.trailers().await? {
            Some(trailers) => verdict(&trailers),
            None => Err(GrpcError::NoStatus),
        }
    }

    /// The connection's sender once it can take a call; `None` (and given up) when it is gone.
    async fn ready(&mut self) -> Option<SendRequest<Bytes>> {
        let send = self.send.clone()?;
        match send.ready().await {
            Ok(send) => Some(send),
            Err(e) => {
                tracing::debug!(error = %e, "trace export: the gRPC connection broke; connecting again");
                self.close();
                None
            }
        }
    }

    async fn connect(&mut self, config: &ExportConfig) -> Result<(), GrpcError> {
        self.close();
        let url = &config.endpoint;
        let host = url.host_str().ok_or_else(|| GrpcError::Connect(std::io::Error::other("no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(4317);
        let tcp = TcpStream::connect((host, port)).await.map_err(GrpcError::Connect)?;
        let _ = tcp.set_nodelay(true);
        if url.scheme() == "https" {
            let name = ServerName::try_from(host.to_string()).map_err(|e| GrpcError::Tls(e.to_string()))?;
            let tls = TlsConnector::from(std::sync::Arc::new(tls_config(config)?))
                .connect(name, tcp)
                .await
                .map_err(|e| GrpcError::Tls(e.to_string()))?;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(GrpcError::NoH2);
            }
            self.handshake(tls).await
        } else {
            self.handshake(tcp).await
        }
    }

    async fn handshake<T>(&mut self, io: T) -> Result<(), GrpcError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, connection) = h2::client::handshake(io).await?;
        self.driver = Some(tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "trace export: the gRPC connection ended");
            }
        }));
        self.send = Some(send);
        Ok(())
    }
}

/// The public roots, the `OTEL_EXPORTER_OTLP_CERTIFICATE` ones, ALPN `h2`, the ring provider (as every
/// other TLS client in journeyd).
fn tls_config(config: &ExportConfig) -> Result<ClientConfig, GrpcError> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for cert in config.roots.iter() {
        roots.add(cert.clone()).map_err(|e| GrpcError::Tls(e.to_string()))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GrpcError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tls)
}

/// The call's head: the method path on the collector's authority, and the export headers as metadata.
fn request(config: &ExportConfig) -> Result<http::Request<()>, GrpcError> {
    let url = &config.endpoint;
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let uri = format!("{}://{authority}{EXPORT_PATH}", url.scheme());
    let mut request = http::Request::post(uri)
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .header("user-agent", concat!("journeyd/", env!("CARGO_PKG_VERSION")))
        .body(())
        .map_err(|e| GrpcError::Connect(std::io::Error::other(e.to_string())))?;
    for (name, value) in &config.headers {
        let mut value = value.clone();
        value.set_sensitive(true);
        request.headers_mut().insert(name.clone(), value);
    }
    Ok(request)
}

/// The length-prefixed message: 0 (not compressed), its length as a big-endian u32, the bytes.
fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(message.len() as u32);
    framed.put_slice(message);
    framed.freeze()
}

/// `grpc-status` 0 is success; anything else an error with its percent-decoded `grpc-message`.
fn verdict(headers: &http::HeaderMap) -> Result<(), GrpcError> {
    let code = headers.get("grpc-status").and_then(|v| v.to_str().ok()?.trim().parse::<u32>().ok());
    match code {
        Some(0) => Ok(()),
        Some(code) => {
            let raw = headers.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let message: String =
                percent_encoding::percent_decode_str(raw).decode_utf8_lossy().chars().take(200).collect();
            Err(GrpcError::Status { code, message })
        }
        None => Err(GrpcError::NoStatus),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    #[test]
    fn a_message_is_framed_and_a_status_read_from_headers_or_trailers() {
        assert_eq!(&frame(b"abc")[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
        let mut h = http::HeaderMap::new();
        assert!(matches!(verdict(&h), Err(GrpcError::NoStatus)));
        h.insert("grpc-status", HeaderValue::from_static("0"));
        assert!(verdict(&h).is_ok());
        h.insert("grpc-status", HeaderValue::from_static("14"));
        h.insert("grpc-message", HeaderValue::from_static("collector%20overloaded"));
        let e = verdict(&h).unwrap_err().to_string();
        assert_eq!(e, "the collector answered gRPC status 14 (UNAVAILABLE): collector overloaded");
    }
}
