//! `permesi signup-verify-url`: the newest verification link in the development mail folder,
//! so a developer can finish a signup without a mail server (`just signup-verify-url`).

#![allow(clippy::print_stdout)]

use clap::Subcommand;
use server::cli::StartError;

use crate::config::Settings;

/// permesi's own subcommands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DevCommand {
    /// Print the newest email-verification link written to `email_mail_dir`.
    SignupVerifyUrl,
}

/// Runs a subcommand.
pub fn run(settings: &Settings, command: DevCommand) -> Result<(), StartError> {
    match command {
        DevCommand::SignupVerifyUrl => {
            match crate::verification::latest_link(&settings.email_mail_dir)? {
                Some(link) => println!("{link}"),
                None => {
                    return Err(StartError::Io(std::io::Error::other(format!(
                        "no verification mail in {} yet",
                        settings.email_mail_dir.display()
                    ))));
                }
            }
            Ok(())
        }
    }
}
