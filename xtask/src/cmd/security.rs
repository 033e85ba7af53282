//! `security status` (the running containers' confinement against the policy)
//! and `security apparmor-load` (the profiles of `apparmor/` into the kernel).

use std::process::ExitCode;

use core_data_ops::security::{self, apparmor, ContainerSecurity, SecurityReport};
use core_data_ops::stack::Stack;

use super::output::print_json;
use super::Ctx;
use crate::error::CmdResult;
use crate::flags::SecurityStatus;

pub(crate) fn status(ctx: &Ctx, args: &SecurityStatus) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let report = security::status(&stack)?;
    if args.format.json() {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "NO"
    }
}

fn list_or(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join(", ")
    }
}

fn print_container(c: &ContainerSecurity, host_apparmor: bool) {
    println!(
        "{} ({})",
        c.name,
        c.service.as_deref().unwrap_or("no compose service")
    );
    let row = |what: &str, value: &str| println!("  {what:<18} {value}");
    row(
        "user",
        if c.user.is_empty() {
            "(the image's default)"
        } else {
            &c.user
        },
    );
    row(
        "capabilities",
        &format!(
            "drop {}; add {}",
            list_or(&c.cap_drop, "none"),
            list_or(&c.cap_add, "none")
        ),
    );
    if c.privileged {
        row("privileged", "YES");
    }
    if !c.host_namespaces.is_empty() {
        row("host namespaces", &c.host_namespaces.join(", "));
    }
    if !c.devices.is_empty() {
        row("devices", &c.devices.join(", "));
    }
    row("no-new-privileges", yes_no(c.no_new_privileges));
    row("read-only root", yes_no(c.read_only_root));
    row("seccomp", &c.seccomp.to_string());
    let apparmor = match &c.apparmor {
        _ if !host_apparmor => "host has no AppArmor".to_owned(),
        Some(profile) if !profile.is_empty() => profile.clone(),
        _ => "none".to_owned(),
    };
    row("apparmor", &apparmor);
    let ports: Vec<String> = c
        .ports
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() {
                "*"
            } else {
                &p.host_ip
            };
            format!("{ip}:{} -> {}", p.host_port, p.container_port)
        })
        .collect();
    row("ports", &list_or(&ports, "none published"));
    row(
        "pids limit",
        &c.pids_limit
            .map_or_else(|| "NONE".to_owned(), |limit| limit.to_string()),
    );
    row(
        "memory limit",
        &c.memory_limit.map_or_else(
            || "NONE".to_owned(),
            |bytes| format!("{} MiB", bytes / (1024 * 1024)),
        ),
    );
    let secrets: Vec<String> = c
        .secrets
        .iter()
        .map(|s| {
            format!(
                "{} ({})",
                s.destination,
                if s.read_only { "ro" } else { "WRITABLE" }
            )
        })
        .collect();
    row("secrets", &list_or(&secrets, "none"));
    println!();
}

fn print_report(report: &SecurityReport) {
    if report.containers.is_empty() {
        println!(
            "stack `{}` has no running containers; start it with `cargo xtask up`",
            report.project
        );
    }
    for container in &report.containers {
        print_container(container, report.host_apparmor);
    }
    if !report.not_running.is_empty() {
        println!(
            "not running (not inspected): {}",
            report.not_running.join(", ")
        );
    }
    if !report.host_apparmor {
        println!(
            "AppArmor: the Docker engine's host has no AppArmor, so no profile applies (APPARMOR={})",
            report.apparmor_setting
        );
    }
    let mut short = 0;
    for (container, shortfall) in report.shortfalls() {
        short += 1;
        println!(
            "FAIL {}: {}: {}",
            container.name, shortfall.property, shortfall.detail
        );
    }
    if report.passed {
        println!(
            "ok: {} container(s) of `{}` meet the policy",
            report.containers.len(),
            report.project
        );
    } else if short > 0 {
        let failing = report
            .containers
            .iter()
            .filter(|c| !c.shortfalls.is_empty())
            .count();
        println!(
            "{failing} of {} container(s) fall short of the policy ({short} shortfall(s))",
            report.containers.len()
        );
    }
}

pub(crate) fn apparmor_load(ctx: &Ctx) -> CmdResult {
    match apparmor::load_all(&ctx.paths)? {
        apparmor::Loaded::NoAppArmor(why) => {
            println!("this host has no AppArmor ({why}); nothing was loaded and nothing changed");
        }
        apparmor::Loaded::Profiles(profiles) => {
            for profile in &profiles {
                println!("loaded `{}` from {}", profile.name, profile.file);
            }
            println!(
                "{} profile(s) loaded; `{}=enabled` in `.env` and `cargo xtask up` apply them",
                profiles.len(),
                apparmor::KEY
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
