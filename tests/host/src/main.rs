//! The `booking-host` binary: `booking-host up [--from spin.toml] [--listen ADDR] ...`.

use std::io::Write;
use std::process::ExitCode;

use booking_host::HostConfig;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let config = match HostConfig::from_args(std::env::args_os()) {
        Ok(config) => config,
        // Prints help, version or the usage error, with clap's exit code.
        Err(error) => error.exit(),
    };
    let exit_on_stdin_eof = config.exit_on_stdin_eof;
    let host = match booking_host::serve(config).await {
        Ok(host) => host,
        Err(error) => {
            eprintln!("Error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "booking-host: started in {} ms",
        host.startup_time().as_millis()
    );
    // Tests read this exact line to learn the port, so it is the only stdout output.
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "Serving {}", host.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);

    let stdin_eof = exit_on_stdin_eof.then(|| {
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        // A plain thread, not a runtime task: a blocking read must not hold up shutdown.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            // End-of-file (or an error): the parent is gone.
            let _ = closed_tx.send(());
        });
        closed_rx
    });
    let stores = host.stores();
    let stdin_closed = async move {
        match stdin_eof {
            Some(closed) => {
                let _ = closed.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let code = tokio::select! {
        result = host.wait() => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("Error: {error:#}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        () = terminated() => ExitCode::SUCCESS,
        () = stdin_closed => ExitCode::SUCCESS,
    };
    // However it stops, the last line: the key-value calls the components made, summed over
    // the stores (`booking_host::spawn::KvCalls` documents and parses the format).
    eprintln!("{}", stores.calls());
    code
}

/// Resolves on SIGTERM (what `kill`, process supervisors and scripts send), so the runtime
/// stops as on Ctrl-C, printing its key-value call counts. Never resolves if the handler
/// cannot be installed (the default action, exiting at once, then stays).
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(error) => {
            eprintln!("booking-host: warning: cannot handle SIGTERM: {error}");
            std::future::pending::<()>().await;
        }
    }
}
