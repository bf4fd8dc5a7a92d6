//! One function per command; each parses nothing and prints its result.

mod images;
mod login;
mod pull;
mod remove;
mod transfer;

use anyhow::Result;

use crate::cli::{Cli, Command, ImageCommand};
use crate::context::Ctx;

pub fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx {
        root: cli.root,
        insecure: cli.insecure_registries,
    };
    match cli.command {
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::pull(&ctx, &a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&ctx, &a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => remove::rmi(&ctx, &a),
        Command::Image(ImageCommand::Prune(a)) => remove::prune(&ctx, &a),
        Command::Image(ImageCommand::Inspect(a)) => images::inspect(&ctx, &a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(&ctx, &a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => transfer::save(&ctx, &a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => transfer::load(&ctx, &a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => transfer::import(&ctx, &a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => transfer::push(&ctx, &a),
        Command::Login(a) => login::login(&ctx, &a),
        Command::Logout(a) => login::logout(&a),
    }
}
