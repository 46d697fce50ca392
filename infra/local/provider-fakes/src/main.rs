//! `provider-fakes [--port N]`: serves the fake networks on 127.0.0.1 for the local run.
//! The port comes from `--port`, else `PROVIDER_FAKES_PORT`, else 4610 (0: any free port).
//! Prints `provider-fakes listening on http://127.0.0.1:PORT/` once ready; stops on
//! Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Serves the fake networks on 127.0.0.1 for the local run.
#[derive(Debug, clap::Parser)]
#[command(name = "provider-fakes")]
struct Cli {
    /// The port (0: any free port).
    #[arg(long, env = "PROVIDER_FAKES_PORT", default_value_t = 4610)]
    port: u16,
}

async fn stopped() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let port = <Cli as clap::Parser>::parse().port;
    let fakes = match provider_fakes::start(SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("provider-fakes: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("provider-fakes listening on {}", fakes.base_url);
    let _ = std::io::stdout().flush();
    stopped().await;
    ExitCode::SUCCESS
}
