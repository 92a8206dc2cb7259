//! The access benchmark's report: Markdown tables of the trials.

use std::io::Write;
use std::time::Duration;

use obhut_core::segment::HEADER_LEN;
use obhut_core::stream::SEALED_CHUNK_LEN;
use obhut_server::testkit::HttpResponse;

use super::{AccessArgs, Approval, Trial, World, col, mib, ms};

#[allow(clippy::too_many_arguments)]
pub(super) fn report(
    a: &AccessArgs,
    w: &World,
    total_blob: u64,
    direct: &[Trial],
    cli: &[Trial],
    cold: &[Trial],
    wides: &[Trial],
    metrics: &HttpResponse,
) {
    let seg_len = w.records[0].blob_len();
    let scope = &direct[0];
    println!();
    println!(
        "### Time to first decrypted byte ({} s scope = {} segments, from the last envelope upload's answer)",
        a.scope_secs, scope.segments
    );
    println!();
    println!("| path | requests | median ms | p95 ms | max ms | breakdown (medians, ms) |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, v: &[Trial], cli: bool| {
        if v.is_empty() {
            return;
        }
        let fb = col(v, |t| t.first_byte);
        let mut parts = Vec::new();
        if cli {
            parts.push(format!(
                "GET request + inclusion {}",
                ms(col(v, |t| t.request_check).median())
            ));
        }
        parts.push(format!("release {}", ms(col(v, |t| t.release).median())));
        if cli {
            let polls: u32 = v.iter().map(|t| t.release_polls).sum();
            parts.push(format!(
                "release inclusion {} ({:.1} checkpoint polls)",
                ms(col(v, |t| t.release_check).median()),
                f64::from(polls) / v.len() as f64
            ));
            parts.push(format!(
                "own scope resolution (all records, alongside the release) {}",
                ms(col(v, |t| t.resolve).median())
            ));
        }
        parts.push(format!("recover {}", ms(col(v, |t| t.recover).median())));
        parts.push(format!(
            "range GET + decrypt {}",
            ms(col(v, |t| t.range).median())
        ));
        println!(
            "| {name} | {} | **{}** | {} | {} | {} |",
            v.len(),
            ms(fb.median()),
            ms(fb.p95()),
            ms(fb.max()),
            parts.join("; ")
        );
    };
    row(
        "direct: release, recover, Range GET of chunk 0, decrypt",
        direct,
        false,
    );
    row(
        "as `obhut open --range`: + request and release inclusion checks, own scope resolution while the vault releases, range checked against the signed hash (group tree)",
        cli,
        true,
    );
    row(
        "direct, page cache dropped before the clock starts",
        cold,
        false,
    );

    println!();
    println!("### Whole scope: every in-scope segment fetched whole, opened, hash-checked");
    println!();
    println!(
        "| scope | requests | segments | ciphertext | fetch + decrypt median ms | clock start → whole scope median ms (keys + fetch + decrypt) | p95 ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    let whole = |name: &str, v: &[Trial]| {
        if v.is_empty() {
            return;
        }
        let total = col(v, |t| t.keys_ready + t.whole_fetch);
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            v.len(),
            v[0].segments,
            mib(v[0].scope_blob_bytes),
            ms(col(v, |t| t.whole_fetch).median()),
            ms(total.median()),
            ms(total.p95())
        );
    };
    whole(&format!("{} s (direct path)", a.scope_secs), direct);
    whole(&format!("{} s (direct path)", a.wide_secs), wides);

    println!();
    println!("### Bytes read from storage");
    println!();
    println!(
        "| what | blob bytes served by the vault | block-device reads (process read_bytes, warm / cold median) | scope ciphertext | recording ciphertext | served / scope | served / recording |"
    );
    println!("|---|---|---|---|---|---|---|");
    let med_u64 = |v: &[Trial], f: &dyn Fn(&Trial) -> u64| -> Option<u64> {
        let mut x: Vec<u64> = v.iter().map(f).collect();
        x.sort_unstable();
        x.get(x.len().saturating_sub(1) / 2).copied()
    };
    let disk = |f: &dyn Fn(&Trial) -> u64| {
        let warm = med_u64(direct, f).unwrap_or(0);
        match med_u64(cold, f) {
            Some(c) => format!("{warm} B / {c} B"),
            None => format!("{warm} B / (no cold trials)"),
        }
    };
    let served_fb = scope.first_served;
    println!(
        "| first byte (Range GET of chunk 0) | {served_fb} B | {} (range GET) | {} | {} | {:.4} | {:.2e} |",
        disk(&|t| t.first_disk_range),
        mib(scope.scope_blob_bytes),
        mib(total_blob),
        served_fb as f64 / scope.scope_blob_bytes as f64,
        served_fb as f64 / total_blob as f64
    );
    println!(
        "| clock start → first byte (release included) | {served_fb} B | {} | | | | |",
        disk(&|t| t.first_disk_total),
    );
    println!(
        "| whole {} s scope | {} B | {} | {} | {} | {:.3} | {:.2e} |",
        a.scope_secs,
        scope.whole_served,
        disk(&|t| t.whole_disk),
        mib(scope.scope_blob_bytes),
        mib(total_blob),
        scope.whole_served as f64 / scope.scope_blob_bytes as f64,
        scope.whole_served as f64 / total_blob as f64
    );
    println!();
    println!(
        "One chunk on the wire is {} B (64 KiB + 16 B tag) at blob offset {HEADER_LEN} (the header comes from the signed record); a segment's blob is {seg_len} B.",
        SEALED_CHUNK_LEN
    );
    let text = String::from_utf8_lossy(&metrics.body);
    let names: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("# TYPE"))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let read_metrics: Vec<&&str> = names
        .iter()
        .filter(|n| n.contains("read") || n.contains("served") || n.contains("blob"))
        .collect();
    if read_metrics.is_empty() {
        println!(
            "/metrics (HTTP {}) has no metric of bytes read or served (it exposes: {}).",
            metrics.status,
            names.join(", ")
        );
    } else {
        println!("/metrics read metrics: {read_metrics:?}");
    }

    println!();
    println!("### Custodian CPU (one approval = one custodian; calling thread's CPU time)");
    println!();
    println!(
        "| scope | approvals | segments | custodian_partial CPU median ms | per segment µs | records fetch (wall) ms | JSON + base64 CPU ms | records_from_chain CPU ms | records_in_scope CPU ms | POST approval + PUT envelope ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let cust = |name: &str, v: &[&Trial]| -> Option<(usize, Duration)> {
        let ap: Vec<Approval> = v.iter().flat_map(|t| t.approvals.iter().copied()).collect();
        if ap.is_empty() {
            return None;
        }
        let segs = ap[0].segments;
        let p = col(&ap, |x| x.partial_cpu).median();
        println!(
            "| {name} | {} | {segs} | {} | {:.0} | {} | {} | {} | {} | {} |",
            ap.len(),
            ms(p),
            p.as_secs_f64() * 1e6 / segs as f64,
            ms(col(&ap, |x| x.fetch).median()),
            ms(col(&ap, |x| x.parse_cpu).median()),
            ms(col(&ap, |x| x.chain_cpu).median()),
            ms(col(&ap, |x| x.scope_cpu).median()),
            ms(col(&ap, |x| x.post).median()),
        );
        Some((segs, p))
    };
    let narrow: Vec<&Trial> = direct.iter().chain(cli).chain(cold).collect();
    let wide: Vec<&Trial> = wides.iter().collect();
    let n1 = cust(&format!("{} s", a.scope_secs), &narrow);
    let n2 = cust(&format!("{} s", a.wide_secs), &wide);
    if let (Some((s1, p1)), Some((s2, p2))) = (n1, n2)
        && s2 > s1
    {
        let marginal = (p2.as_secs_f64() - p1.as_secs_f64()) / (s2 - s1) as f64;
        let fixed = p1.as_secs_f64() - marginal * s1 as f64;
        println!();
        println!(
            "custodian_partial: marginal {:.0} µs CPU per approved segment ({} → {} segments), fixed {:.2} ms per approval; wall/CPU {:.2} (median of the {} s approvals).",
            marginal * 1e6,
            s1,
            s2,
            fixed * 1e3,
            {
                let ap: Vec<Approval> = narrow
                    .iter()
                    .flat_map(|t| t.approvals.iter().copied())
                    .collect();
                col(&ap, |x| x.partial_wall).median().as_secs_f64()
                    / col(&ap, |x| x.partial_cpu).median().as_secs_f64()
            },
            a.scope_secs
        );
    }
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "load average at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
