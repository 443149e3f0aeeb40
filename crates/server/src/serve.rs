//! Serving a router on TCP or a Unix socket until SIGTERM or SIGINT.

use std::{io, net::SocketAddr};

use axum::Router;
use tokio::net::{TcpListener, UnixListener};

use crate::ListenAddr;

/// Binds `listen` and serves until a shutdown signal, then drains in-flight requests.
pub async fn serve(router: Router, listen: &ListenAddr) -> io::Result<()> {
    match listen {
        ListenAddr::Tcp(addr) => {
            let shutdown = shutdown_signal()?;
            let listener = TcpListener::bind(addr).await?;
            tracing::info!(listen = %listener.local_addr()?, "listening");
            serve_tcp(listener, router, shutdown).await
        }
        ListenAddr::Unix(path) => {
            // A socket file left by a previous run would make bind fail.
            if std::fs::symlink_metadata(path)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                std::fs::remove_file(path)?;
            }
            let shutdown = shutdown_signal()?;
            let listener = UnixListener::bind(path)?;
            tracing::info!(listen = %listen, "listening");
            let result = axum::serve(listener, router.into_make_service())
                .with_graceful_shutdown(shutdown)
                .await;
            let _ = std::fs::remove_file(path);
            result
        }
    }
}

/// Serves on an already bound TCP listener until `shutdown` completes (tests pass their own).
pub async fn serve_tcp(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A future that completes on SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C). The handlers
/// are registered now, before the caller starts listening, so a signal that arrives right
/// after start-up drains instead of killing the process.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutdown signal received, draining");
    })
}
