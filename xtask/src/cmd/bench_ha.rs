//! `bench ha` (see `core_data_ops::bench::ha`): prints the figures next to their floor.

use std::process::ExitCode;

use core_data_ops::bench::{self, ha};

use super::Ctx;
use crate::error::{fail, CmdResult};
use crate::flags::BenchHa;

pub(crate) fn run(ctx: &Ctx, args: &BenchHa) -> CmdResult {
    if args.kills == 0 || args.switchovers == 0 || args.commits < 10 {
        fail!("--kills and --switchovers take at least 1, --commits at least 10");
    }
    let f = ha::ha(args.kills, args.switchovers, args.commits, &ctx.progress())?;
    println!(
        "bench ha: 3 nodes, 3 etcd members, ttl {} s, loop_wait {} s; {} build",
        f.ttl,
        f.loop_wait,
        bench::BUILD
    );
    println!(
        "  failover (leader container SIGKILL to the first write through HAProxy), {} kills: median {:.1} s, max {:.1} s (bound ttl + loop_wait + 5 = {} s)",
        f.failover.0.len(),
        f.failover.median(),
        f.failover.max(),
        f.ttl + f.loop_wait + 5
    );
    println!(
        "  switchover write pause, {} switchovers: median {:.2} s, max {:.2} s",
        f.switchover_pause.0.len(),
        f.switchover_pause.median(),
        f.switchover_pause.max()
    );
    let (single, single_p99) = ha::median_p99(&f.commit_single);
    println!("  commit latency (single-row INSERT, one connection), median / p99:");
    for (name, samples) in [
        ("single server (floor)", &f.commit_single),
        ("ha, synchronous off", &f.commit_async),
        ("ha, synchronous on", &f.commit_sync),
    ] {
        let (median, p99) = ha::median_p99(samples);
        println!(
            "    {name:<22} {median:>7.2} ms / {p99:>7.2} ms   ratio to the floor {:.2}x / {:.2}x",
            median / single,
            p99 / single_p99
        );
    }
    Ok(ExitCode::SUCCESS)
}
