//! The command line, as data: one struct per command (Docker's names and flags).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "husk",
    version,
    about = "Containers without a daemon, with Docker's commands"
)]
pub struct Cli {
    /// Where husk keeps images and containers.
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/husk",
        value_name = "DIR"
    )]
    pub root: PathBuf,

    /// A registry reached over plain http (besides loopback ones); repeatable.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download an image from a registry.
    Pull(PullArgs),
    /// List images.
    Images(ImagesArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag(TagArgs),
    /// Save one or more images to a tar archive (OCI layout, also readable by docker load).
    Save(SaveArgs),
    /// Load images from a tar archive (OCI layout or docker save).
    Load(LoadArgs),
    /// Create a one-layer image from a root filesystem (tarball or directory).
    Import(ImportArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Log in to a registry.
    Login(LoginArgs),
    /// Log out from a registry.
    Logout(LogoutArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images.
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Show low-level information on images, as JSON.
    Inspect(InspectArgs),
    /// Remove unused images (and interrupted downloads).
    Prune(PruneArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag(TagArgs),
    /// Save one or more images to a tar archive.
    Save(SaveArgs),
    /// Load images from a tar archive.
    Load(LoadArgs),
    /// Create a one-layer image from a root filesystem.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Print only the image name.
    #[arg(short, long)]
    pub quiet: bool,
    /// os/arch[/variant] to pull from a multi-platform image.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// [REGISTRY/]NAME[:TAG][@DIGEST]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show full image IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format with a template: {{.Repository}} {{.Tag}} {{.ID}} {{.Digest}} {{.CreatedAt}}
    /// {{.CreatedSince}} {{.Size}}, "table ..." for a header, or "json".
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository[:tag].
    pub repository: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove even if tagged in several repositories or used by containers.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all images without containers, not only untagged ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt (husk never prompts).
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to this file (required: husk does not write archives to a terminal).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[arg(short, long, value_name = "FILE")]
    pub input: PathBuf,
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A tarball (plain, gzip or zstd) or a directory holding the root filesystem.
    pub source: PathBuf,
    /// The name to tag the new image with.
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[arg(short, long)]
    pub username: Option<String>,
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry (default: Docker Hub).
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    pub server: Option<String>,
}
