//! `control healthcheck` (for Docker HEALTHCHECK): just enough HTTP over a
//! plain TCP socket, with a deadline, so it cannot hang.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GETs `path` from the server at `addr`; Ok when the answer is 2xx.
pub async fn probe(addr: SocketAddr, path: &str, deadline: Duration) -> Result<(), String> {
    let run = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: control-healthcheck\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.take(4096)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf);
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| "no HTTP status in the answer".to_owned())?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("{path} answered {status}"))
        }
    };
    tokio::time::timeout(deadline, run)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", deadline.as_millis())))
}

/// Where the healthcheck should connect for a listen address: a wildcard
/// listen address is reached on loopback.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    let mut a = listen;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_is_probed_on_loopback() {
        assert_eq!(
            probe_addr("0.0.0.0:3000".parse().unwrap()),
            "127.0.0.1:3000".parse().unwrap()
        );
        assert_eq!(
            probe_addr("[::]:3000".parse().unwrap()),
            "[::1]:3000".parse().unwrap()
        );
        assert_eq!(
            probe_addr("10.1.2.3:80".parse().unwrap()),
            "10.1.2.3:80".parse().unwrap()
        );
    }

    #[tokio::test]
    async fn probe_fails_fast_on_a_closed_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert!(probe(addr, "/health", Duration::from_secs(1))
            .await
            .is_err());
    }
}
