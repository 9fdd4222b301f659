//! The `imind` command line (its names are a contract: docs/api.md).

use std::{io::IsTerminal, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use entity::enums::Role;
use imind_api::{Application, NewUser, Settings};

#[derive(Parser)]
#[command(name = "imind", version, about = "i-mind: video analysis for child counselling sessions")]
pub struct Cli {
    /// Configuration file (default: ./imind.toml if present; IMIND_* variables override it).
    #[arg(long, global = true, env = "IMIND_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the GraphQL gateway (GraphiQL at /).
    Serve {
        /// Seed a demo organisation, logins and analysed sessions (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Run analysis workers only (distributed mode: gateways set IMIND_EMBEDDED_WORKER=false).
    /// Needs the shared database and blob store; migrations are the gateways' job.
    Worker {
        /// Analyses run at once (default: IMIND_WORKER_CONCURRENCY, else 1).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Run database migrations and exit.
    Migrate,
    /// Create a user (the password comes from IMIND_PASSWORD, or is read from stdin).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Organisation name; created if it does not exist.
        #[arg(long)]
        org: String,
        /// Display name (default: the part of the e-mail before '@').
        #[arg(long)]
        name: Option<String>,
    },
    /// Register a manifest of trusted documents for an organisation: the JSON Apollo's and
    /// Relay's persisted-query tooling write, `{"sha256:<hex>": "query …"}`.
    TrustedDocuments {
        manifest: PathBuf,
        /// Organisation name.
        #[arg(long)]
        org: String,
    },
    /// Print the GraphQL schema (SDL).
    ExportSchema,
    /// Analyse a video offline: tracked people, observed expressions and behaviours.
    Analyze {
        file: PathBuf,
        /// Frames analysed per second of video (0: every frame).
        #[arg(long, default_value_t = 2.0)]
        fps: f64,
        /// Frames per batch through the networks.
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        /// Threads per model inference (the face and pose models run in parallel).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Write the result as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Draw a per-person timeline (PNG).
        #[arg(long)]
        timeline: Option<PathBuf>,
    },
    /// Measure the engine on labelled data.
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
    },
}

/// `--align` of `imind eval expressions`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AlignArg {
    /// The crop as it is.
    None,
    /// Turned so that the eyes are level.
    Level,
    /// Eyes level, a fixed distance apart, at a fixed height.
    LevelAndScale,
}

impl From<AlignArg> for imind_inference::Alignment {
    fn from(arg: AlignArg) -> Self {
        match arg {
            AlignArg::None => Self::None,
            AlignArg::Level => Self::Level,
            AlignArg::LevelAndScale => Self::LevelAndScale,
        }
    }
}

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Accuracy, macro-F1, per-class precision/recall and the confusion matrix of the
    /// expression stage on DIR: one folder per class (angry disgust fear happy sad surprise
    /// neutral) of face images.
    Expressions {
        dir: PathBuf,
        /// The images are faces already cropped: skip the face detector.
        #[arg(long)]
        whole_image: bool,
        /// Classify each face as it is, without averaging with its mirror image (as the
        /// pipeline does).
        #[arg(long)]
        no_flip: bool,
        /// How crops are lined up on the eyes (default: as the pipeline does).
        #[arg(long, value_enum)]
        align: Option<AlignArg>,
        /// Long side of the face detector's input, in pixels (the pipeline's default).
        #[arg(long, default_value_t = 320)]
        face_input: i32,
        /// Threads per model inference.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Find faces with the float CenterFace instead of its int8 build (the pipeline's
        /// default on the CPU).
        #[arg(long)]
        no_int8: bool,
        /// Write the figures as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Identity switches, merges, misses and wrong faces of the tracker on a hand-labelled
    /// clip: LABELS is the clip's JSON labels (as under inference/tests/identity/), VIDEO the
    /// clip itself.
    Identities {
        labels: PathBuf,
        video: PathBuf,
        /// Frames analysed per second of video.
        #[arg(long, default_value_t = 4.0)]
        fps: f64,
        /// Threads per model inference.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Write the figures as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleArg {
    Admin,
    Counsellor,
    Guardian,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Counsellor => Role::Counsellor,
            RoleArg::Guardian => Role::Guardian,
        }
    }
}

/// Settings for a process that serves others: unless configured otherwise, videos are probed
/// and decoded by this same program in child processes (`imind media-child`) — the running
/// binary itself (`/proc/self/exe`), not whatever an upgrade has since put at its path.
fn server_settings(config: Option<PathBuf>) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(config)?;
    if settings.media_child_program.is_none() {
        let running = PathBuf::from("/proc/self/exe");
        let program = if running.exists() {
            running
        } else {
            std::env::current_exe().context("finding this program for its media children")?
        };
        settings.media_child_program = Some(program);
    }
    Ok(settings)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Analyze { file, fps, batch_size, threads, json, timeline } => {
            let args = crate::analyze::AnalyzeArgs { file, fps: Some(fps), batch_size, threads, json, timeline };
            let result = tokio::task::spawn_blocking(move || crate::analyze::run(args)).await??;
            print!("{}", crate::analyze::summary(&result));
            Ok(())
        }
        Command::Eval {
            what: EvalCommand::Expressions { dir, whole_image, no_flip, align, face_input, threads, no_int8, json },
        } => {
            let pipeline = imind_inference::ExpressionInput::default();
            let options = imind_inference::ExpressionEvalOptions {
                whole_image,
                input: imind_inference::ExpressionInput {
                    flip: !no_flip,
                    align: align.map_or(pipeline.align, imind_inference::Alignment::from),
                },
                face_input_long_side: face_input,
                runtime: {
                    let defaults = imind_inference::RuntimeOptions::default();
                    imind_inference::RuntimeOptions {
                        intra_threads: threads,
                        int8: defaults.int8 && !no_int8,
                        ..defaults
                    }
                },
                ..Default::default()
            };
            let report =
                tokio::task::spawn_blocking(move || imind_inference::evaluate_expressions(&dir, &options)).await??;
            print!("{}", imind_inference::format_report(&report));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report)?;
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
        Command::Eval { what: EvalCommand::Identities { labels, video, fps, threads, json } } => {
            let text = std::fs::read_to_string(&labels).with_context(|| format!("reading {}", labels.display()))?;
            let labels: imind_inference::IdentityLabels =
                serde_json::from_str(&text).with_context(|| format!("parsing {}", labels.display()))?;
            let args = crate::analyze::AnalyzeArgs {
                file: video,
                fps: Some(fps),
                batch_size: 8,
                threads,
                json: None,
                timeline: None,
            };
            let result = tokio::task::spawn_blocking(move || crate::analyze::run(args)).await??;
            let report = imind_inference::evaluate_identities(&labels, &result);
            print!("{}", imind_inference::format_identity_report(&report));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report)?;
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
        Command::ExportSchema => {
            print!("{}", imind_api::schema_sdl());
            Ok(())
        }
        Command::Serve { demo } => {
            let settings = server_settings(cli.config)?;
            let app = Application::build(settings, demo).await?;
            app.run_until(shutdown_signal()).await
        }
        Command::Worker { concurrency } => {
            let mut settings = server_settings(cli.config)?;
            if let Some(concurrency) = concurrency {
                settings.worker_concurrency = concurrency;
            }
            imind_api::run_worker_process(settings, shutdown_signal()).await
        }
        Command::Migrate => {
            let settings = Settings::load(cli.config)?;
            let db = imind_api::connect_database(&settings.effective_database_url(), 2, None).await?;
            imind_api::migrate_database(&db).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::TrustedDocuments { manifest, org } => {
            let settings = Settings::load(cli.config)?;
            let json = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
            let db = imind_api::connect_database(&settings.effective_database_url(), 2, None).await?;
            imind_api::migrate_database(&db).await?;
            let organisation = imind_api::find_organisation(&db, &org).await?;
            let hashes = imind_api::import_trusted_documents(&db, organisation.id, &json).await?;
            eprintln!("registered {} trusted documents for {}", hashes.len(), organisation.name);
            Ok(())
        }
        Command::CreateUser { email, role, org, name } => {
            let settings = Settings::load(cli.config)?;
            let password = read_password()?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_owned());
            let new = NewUser::parse(&email, &name, role.into(), password)?;
            let db = imind_api::connect_database(&settings.effective_database_url(), 2, None).await?;
            imind_api::migrate_database(&db).await?;
            let organisation = imind_api::ensure_organisation(&db, &org).await?;
            let user = imind_api::create_user(&db, organisation.id, new).await?;
            eprintln!("created {} ({}) in organisation {}", user.email, user.role.as_str(), organisation.name);
            Ok(())
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("IMIND_PASSWORD") {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ").context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
