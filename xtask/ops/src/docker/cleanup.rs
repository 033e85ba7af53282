//! The one Ctrl-C handler: containers started through `ContainerSpec::start`
//! are registered while their guard lives; an interrupt removes them (a guard's
//! `Drop` never runs when the process is interrupted) and exits with 130.

use std::collections::BTreeSet;
use std::sync::{Mutex, Once};

static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static HANDLER: Once = Once::new();

pub(super) fn register(id: &str) {
    HANDLER.call_once(|| {
        // Another handler already installed (a host program embedding us) wins.
        let _ = ctrlc::set_handler(on_interrupt);
    });
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.to_owned());
}

pub(super) fn deregister(id: &str) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
}

fn on_interrupt() {
    let live: Vec<String> = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()))
        .into_iter()
        .collect();
    if !live.is_empty() {
        eprintln!(
            "interrupted: removing {} container(s) this command started",
            live.len()
        );
        if let Ok(docker) = super::Docker::connect() {
            for id in &live {
                let _ = docker.remove_container(id);
            }
        }
    }
    std::process::exit(130);
}
