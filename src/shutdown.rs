//! Draining on SIGTERM or SIGINT (Ctrl-C): the hub ends every event stream, so their
//! responses finish cleanly instead of holding a worker until the shutdown timeout and
//! then being cut off; the server stops accepting and lets in-flight requests finish.
//! A second signal stops at once.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use tokio::signal::unix::{signal, SignalKind};

use crate::live::Hub;

pub async fn drain_on_signal(hub: Arc<Hub>, server: ServerHandle) {
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT: stop this process with SIGKILL");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received: ending event streams, finishing in-flight requests");
    hub.close();
    tokio::select! {
        _ = server.stop(true) => {}
        _ = async { tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} } } => {
            tracing::warn!("second signal: stopping without waiting");
            server.stop(false).await;
        }
    }
}
