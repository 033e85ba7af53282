//! `build-image` and `image info`.

use std::process::ExitCode;

use core_data_ops::config::Config;
use core_data_ops::docker::Docker;
use core_data_ops::image;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::{BuildImage, ImageInfo};

pub(crate) fn build(ctx: &Ctx, args: &BuildImage) -> CmdResult {
    let config = Config::load(&ctx.paths)?;
    let docker = Docker::connect()?;
    image::build::ensure(&docker, &ctx.paths, &config, args.force, &ctx.progress())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn info(ctx: &Ctx, args: &ImageInfo) -> CmdResult {
    let config = Config::load(&ctx.paths)?;
    let docker = Docker::connect()?;
    let mut info = image::info::read(&docker, config.image())?;
    if args.format.json() {
        if let Some(filter) = &args.filter {
            info.packages
                .retain(|(name, _)| name.contains(filter.as_str()));
        }
        output::print_json(&info)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("image:  {}", info.image);
    println!("base:   {}", info.base);
    println!("inputs: {}", info.inputs);
    println!("packages ({}):", info.packages.len());
    for (name, version) in &info.packages {
        if args
            .filter
            .as_deref()
            .is_none_or(|filter| name.contains(filter))
        {
            println!("  {name:<40} {version}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
