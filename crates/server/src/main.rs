//! The `scimgate` binary.

use clap::Parser;

/// mimalloc instead of the system allocator: a request allocates and frees many small
/// buffers on several threads, where glibc's malloc spent about 15 % of the server's CPU
/// under load (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = scimgate::cli::Cli::parse();
    // `serve --log-format json` (or its environment variable or file key): one JSON object
    // per line. A configuration that does not resolve is reported by `serve` itself.
    let json = match &cli.command {
        scimgate::cli::Command::Serve(args) => {
            scimgate::config::Config::resolve(args).is_ok_and(|c| c.log_json)
        }
        _ => false,
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"))
    };
    if json {
        tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_env_filter(filter()).init();
    } else {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter()).init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("scimgate: error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(scimgate::cli::run(cli));
    std::process::exit(code);
}
