//! [`Services`]: what a running engine serves beside its API: the metrics endpoint at
//! `metrics_addr` and the control socket in the cache directory. Both run on threads of
//! their own and reach the loop through a [`Client`], as any caller does; both stop when
//! the `Services` are dropped (a driver drops them before it stops the loop).

mod wait;

use crate::command::{Client, Link};
use crate::control::{ControlReply, ControlServer, Handler};
use crate::error::{Error, Result};
use crate::metrics::http::MetricsServer;
use crate::metrics::Metrics;
use crate::report::StatusReport;
use crate::status::Status;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a scrape or `silt status` waits for the loop's status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// Which services to start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Serve the metrics over HTTP here (`None`: off). Port 0 picks a free port
    /// ([`Services::metrics_addr`] says which).
    pub metrics_addr: Option<SocketAddr>,
    /// Listen on `<cache_dir>/control.sock` for `silt status` and `silt flush` (Unix).
    pub control_socket: bool,
}

/// The running services of one engine.
#[derive(Debug, Default)]
pub struct Services {
    metrics: Option<MetricsServer>,
    control: Option<ControlServer>,
}

impl Services {
    /// Starts what `opts` asks for on the loop reached by `client`. A metrics address that
    /// cannot be bound is an error ([`Error::Metrics`]); a control socket that cannot be
    /// made is logged and left out (the engine works without it).
    pub fn start<L: Link>(
        cache_dir: &Path,
        opts: &ServiceOptions,
        client: Client<L>,
        metrics: Arc<Metrics>,
    ) -> Result<Services> {
        let mut services = Services::default();
        if let Some(addr) = opts.metrics_addr {
            let c = client.clone();
            let refresh = Box::new(move || {
                let _ = status(&c);
            });
            let server = MetricsServer::start(addr, metrics, refresh)
                .map_err(|source| Error::Metrics { addr, source })?;
            services.metrics = Some(server);
        }
        if opts.control_socket {
            let path = crate::control::socket_path(cache_dir);
            match ControlServer::start(&path, handler(client, cache_dir.to_path_buf())) {
                Ok(server) => services.control = Some(server),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "no control socket: `silt status` and `silt flush` cannot reach this mount"
                ),
            }
        }
        Ok(services)
    }

    /// Where the metrics are served, if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::local_addr)
    }
}

/// A status from the loop, waiting at most [`STATUS_TIMEOUT`].
fn status<L: Link>(client: &Client<L>) -> std::result::Result<Status, String> {
    match wait::wait(client.status(), Some(STATUS_TIMEOUT)) {
        Some(Ok(s)) => Ok(s),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!(
            "the engine did not answer within {STATUS_TIMEOUT:?}"
        )),
    }
}

/// A flush of the loop (`wait`: until nothing is pending; no deadline: the client bounds it).
fn flush<L: Link>(client: &Client<L>, wait: bool) -> std::result::Result<(), String> {
    match wait::wait(client.flush(wait), None) {
        Some(r) => r.map_err(|e| e.to_string()),
        None => Err("the flush was not answered".into()),
    }
}

/// The control socket's requests: `status`, `flush`, `flush --wait`.
fn handler<L: Link>(client: Client<L>, cache_dir: PathBuf) -> Handler {
    Arc::new(move |line: &str| match line {
        "status" => match status(&client) {
            Ok(s) => {
                let dir = cache_dir.display().to_string();
                let report = StatusReport::new(&s, "mount", &dir, Some(std::process::id()));
                ControlReply {
                    status: Some(report),
                    ..ControlReply::done()
                }
            }
            Err(e) => ControlReply::failed(e),
        },
        "flush" | "flush --wait" => match flush(&client, line.ends_with("--wait")) {
            Ok(()) => ControlReply::done(),
            Err(e) => ControlReply::failed(e),
        },
        other => ControlReply::failed(format!(
            "unknown request {other:?} (status, flush, flush --wait)"
        )),
    })
}
