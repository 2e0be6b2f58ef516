//! A private PostgreSQL cluster run from the system binaries (`initdb`, `pg_ctl`), used
//! when no `DATABASE_URL` is given and by the test harness. Unix socket only, no TCP port.
//! PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};

/// Unix socket paths are limited to about 107 bytes (sun_path), socket file name included.
const MAX_SOCKET_DIR_LEN: usize = 80;

#[derive(Debug, Clone)]
pub struct Cluster {
    bin_dir: PathBuf,
    /// `<dir>/pgdata` holds the cluster, `<dir>/run` its socket, `<dir>/postgres.log` its log.
    dir: PathBuf,
    socket_dir: PathBuf,
    as_postgres: Option<(u32, u32)>,
}

impl Cluster {
    /// Locates the server binaries; fails with one line naming the Debian package.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir().context(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package \
             `postgresql` (apt-get install postgresql), or set DATABASE_URL",
        )?;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = fs::canonicalize(dir)?;
        let mut socket_dir = dir.join("run");
        if socket_dir.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            // Too deep for a socket path: use a short directory named after the data dir.
            let tag = crate::auth::tokens::sha256_hex(dir.as_os_str().as_encoded_bytes());
            socket_dir = std::env::temp_dir().join(format!("chaat-{}", &tag[..12]));
        }
        let as_postgres = if unsafe { libc::geteuid() } == 0 { Some(postgres_ids()?) } else { None };
        Ok(Cluster { bin_dir, dir, socket_dir, as_postgres })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("pgdata")
    }

    /// libpq URL for a database of this cluster (user `app`, trust auth over the socket).
    /// Creates the database `name` unless it exists. The name is a constant of ours
    /// (identifiers cannot be bound), quoted as an identifier; the check binds it.
    pub fn ensure_database(&self, name: &str) -> anyhow::Result<()> {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let mut conn = PgConnection::establish(&self.url("postgres"))?;
        let exists: bool = crate::db::prepared("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result::<Exists>(&mut conn)?
            .exists;
        if !exists {
            diesel::sql_query(format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""))).execute(&mut conn)?;
        }
        Ok(())
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgresql://app@/{database}?host={}", self.socket_dir.display())
    }

    /// Creates the cluster unless it exists (first start).
    pub fn init(&self) -> anyhow::Result<()> {
        let data = self.data_dir();
        if data.join("PG_VERSION").exists() {
            return Ok(());
        }
        self.prepare_dir(&self.dir)?;
        self.run_pg(
            "initdb",
            [
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "app".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-locale".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        Ok(())
    }

    /// Whether a postmaster is running on this data directory.
    pub fn is_running(&self) -> bool {
        self.pg_ctl(&["status"]).map(|o| o.status.success()).unwrap_or(false)
    }

    /// Starts the server and waits until it accepts connections. `extra` are `-c` options
    /// (tests turn off fsync). Returns false if it was already running (someone else owns it).
    pub fn start(&self, extra: &[&str]) -> anyhow::Result<bool> {
        if self.is_running() {
            return Ok(false);
        }
        self.prepare_dir(&self.socket_dir)?;
        let mut opts = format!("-c listen_addresses='' -k {}", self.socket_dir.display());
        for option in extra {
            opts.push_str(" -c ");
            opts.push_str(option);
        }
        let log = self.dir.join("postgres.log");
        let out = self.pg_ctl(&["-w", "-t", "60", "-l", &log.to_string_lossy(), "-o", &opts, "start"])?;
        if !out.status.success() {
            bail!(
                "pg_ctl start failed: {}{}(log: {})",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                log.display()
            );
        }
        Ok(true)
    }

    /// Fast shutdown: open connections are closed, committed data is safe.
    pub fn stop(&self) -> anyhow::Result<()> {
        let out = self.pg_ctl(&["-w", "-m", "fast", "stop"])?;
        if !out.status.success() && self.is_running() {
            bail!("pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        let data = self.data_dir();
        let mut all: Vec<&OsStr> = vec!["-D".as_ref(), data.as_os_str()];
        all.extend(args.iter().map(|a| OsStr::new(*a)));
        self.command("pg_ctl", &all).output().context("running pg_ctl")
    }

    fn run_pg<'a>(&self, program: &str, args: impl IntoIterator<Item = &'a OsStr>) -> anyhow::Result<()> {
        let args: Vec<&OsStr> = args.into_iter().collect();
        let out = self.command(program, &args).output().with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            bail!("{program} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    fn command(&self, program: &str, args: &[&OsStr]) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.args(args);
        if let Some((uid, gid)) = self.as_postgres {
            cmd.uid(uid).gid(gid);
            // HOME of root is not readable by postgres; keep tools from looking there.
            cmd.env("HOME", &self.dir);
        }
        cmd
    }

    /// Creates `dir` owned by the user the server runs as, mode 0700.
    fn prepare_dir(&self, dir: &Path) -> anyhow::Result<()> {
        fs::create_dir_all(dir)?;
        if let Some((uid, gid)) = self.as_postgres {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).with_context(|| format!("chown {} to postgres", dir.display()))?;
            // postgres must be able to reach the directory through its parents.
            for parent in dir.ancestors().skip(1) {
                let meta = fs::metadata(parent)?;
                let mode = meta.permissions().mode();
                if mode & 0o001 == 0 {
                    fs::set_permissions(parent, fs::Permissions::from_mode(mode | 0o001))?;
                }
            }
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        Ok(())
    }
}

/// `$PG_BIN`, else `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    let has_initdb = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        return has_initdb(&dir).then_some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_initdb(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            has_initdb(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let name = c"postgres";
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy out at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!(
            "running as root, but there is no `postgres` user to run PostgreSQL as: install the \
             Debian package `postgresql`, or run Chaat as a normal user"
        );
    }
    // SAFETY: pw is non-null and points to a valid passwd struct.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok((uid, gid))
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}
