//! The embedded demo shop: a small in-memory e-commerce API with fault injection.
//!
//! (Being written: see the shop helper's brief. The public API below is the contract.)

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

/// The password every demo account accepts unless `--password` says otherwise.
pub const DEMO_PASSWORD: &str = "demo-password";

#[derive(Debug, Clone)]
pub struct ShopOptions {
    pub password: String,
    /// Faults active from the start (`--fault ROUTE=SPEC`).
    pub faults: Vec<FaultSpec>,
}

impl Default for ShopOptions {
    fn default() -> Self {
        ShopOptions { password: DEMO_PASSWORD.to_string(), faults: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub route: String,
}

/// A shop serving in the background.
pub struct RunningShop {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
}

impl RunningShop {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `127.0.0.1:0`, serves in a background task, returns where.
pub async fn spawn(opts: ShopOptions) -> std::io::Result<RunningShop> {
    let _ = opts;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(RunningShop { addr: listener.local_addr()?, shutdown: CancellationToken::new() })
}
