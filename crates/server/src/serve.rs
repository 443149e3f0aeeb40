//! Serving a router on TCP or a Unix socket until SIGTERM or SIGINT.

use std::{io, net::SocketAddr};

use axum::Router;
use tokio::net::{TcpListener, UnixListener};

use crate::ListenAddr;

/// Binds `listen` and serves until a shutdown signal, then drains in-flight requests.
pub async fn serve(router: Router, listen: &ListenAddr) -> io::Result<()> {
    match listen {
        ListenAddr::Tcp(addr) => {
            let listener = TcpListener::bind(addr).await?;
            tracing::info!(listen = %listener.local_addr()?, "listening");
            serve_tcp(listener, router, shutdown_signal()).await
        }
        ListenAddr::Unix(path) => {
            // A socket file left by a previous run would make bind fail.
            if std::fs::symlink_metadata(path)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                std::fs::remove_file(path)?;
            }
            let listener = UnixListener::bind(path)?;
            tracing::info!(listen = %listen, "listening");
            let result = axum::serve(listener, router.into_make_service())
                .with_graceful_shutdown(shutdown_signal())
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

/// Completes on SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining");
}
