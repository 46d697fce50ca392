//! `provider-fakes [--port N]`: serves the fake networks on 127.0.0.1 for the local run.
//! The port comes from `--port`, else `PROVIDER_FAKES_PORT`, else 4610 (0: any free port).
//! Prints `provider-fakes listening on http://127.0.0.1:PORT/` once ready; stops on
//! Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

const DEFAULT_PORT: u16 = 4610;

fn port() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut from_args = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => from_args = Some(args.next().ok_or("--port needs a value")?),
            other => match other.strip_prefix("--port=") {
                Some(v) => from_args = Some(v.to_owned()),
                None => {
                    return Err(format!(
                        "unknown argument '{other}' (usage: provider-fakes [--port N])"
                    ))
                }
            },
        }
    }
    match from_args.or_else(|| std::env::var("PROVIDER_FAKES_PORT").ok()) {
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| format!("the port '{raw}' is not a number from 0 to 65535")),
        None => Ok(DEFAULT_PORT),
    }
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
    let port = match port() {
        Ok(p) => p,
        Err(message) => {
            eprintln!("provider-fakes: {message}");
            return ExitCode::from(2);
        }
    };
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
