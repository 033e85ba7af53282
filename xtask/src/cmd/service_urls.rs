//! `service-urls`: the URLs `core_data_ops::service_urls` builds, as
//! `NAME=url` lines or one JSON document.

use std::process::ExitCode;

use core_data_ops::config::Config;
use core_data_ops::service_urls;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::ServiceUrls;

pub(crate) fn run(ctx: &Ctx, args: &ServiceUrls) -> CmdResult {
    let config = Config::load(&ctx.paths)?;
    let urls = service_urls::service_urls(&ctx.paths, &config, args.show_passwords)?;
    if args.format.json() {
        output::print_json(&urls)?;
    } else {
        for url in &urls.urls {
            println!("{}={}", url.name, url.url);
        }
    }
    if !args.show_passwords {
        eprintln!("passwords are in secrets/ (add --show-passwords to put them in the URLs)");
    }
    Ok(ExitCode::SUCCESS)
}
