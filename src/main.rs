use clap::{Parser, Subcommand};

use chaat::config::Settings;
use chaat::startup::{Application, Database};

#[derive(Parser)]
#[command(name = "chaat", about = "Chaat: a server-rendered chat app")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the app (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create the sample people of the design notes (and their friendships and chats).
    Demo {
        /// The password every sample person gets (8–128 characters).
        #[arg(long)]
        password: String,
    },
}

/// Every Argon2id hash needs a 19 MiB block. glibc raises its mmap threshold after the
/// first such block is freed, so later ones come from per-thread arenas and stay
/// resident: 16 signups left the server at 150 MiB (BENCHMARKS.md). A fixed threshold
/// keeps big blocks mmapped and returns them at once (16 MiB after the same signups).
fn keep_big_blocks_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> anyhow::Result<()> {
    keep_big_blocks_out_of_the_heap();
    let cli = Cli::parse();
    let settings = cli.settings;
    chaat::telemetry::init(&settings.log);
    tracing::info!("settings: {settings}");
    let database = Database::open(&settings)?;
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings, &database.url),
        Command::Migrate => {
            tracing::info!("migrations are up to date");
            Ok(())
        }
        Command::Demo { password } => chaat::demo::create(&database.url, &password),
    };
    database.close();
    result
}

fn serve(settings: Settings, database_url: &str) -> anyhow::Result<()> {
    let bind = settings.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings, database_url)?;
        tracing::info!("Chaat is listening on port {}", app.port());
        println!("Chaat: open http://{}", settings_bind_display(&bind, app.port()));
        app.run_until_stopped().await?;
        tracing::info!("Chaat stopped");
        Ok(())
    })
}

/// The address people can open: the bound port on the configured host.
fn settings_bind_display(bind: &str, port: u16) -> String {
    let host = bind.rsplit_once(':').map(|(h, _)| h).unwrap_or(bind);
    let host = if host == "0.0.0.0" || host.is_empty() { "127.0.0.1" } else { host };
    format!("{host}:{port}")
}
