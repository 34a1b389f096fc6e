//! The decision record for a person: one self-contained HTML page (no scripts, nothing
//! external, a Content-Security-Policy that forbids both) with a summary line, the targets by
//! decision, the VMs, and a timeline of each VM's class across the checks as an inline SVG.
//! Every name is escaped: a target can be called anything.

use super::{reading, Reading, Record, TargetRow, VmRow, DECISIONS};
use std::fmt::Write as _;

/// The classes, their colours, and what the legend says.
const CLASSES: [(&str, &str, &str); 6] = [
    ("member", "#2e7d32", "member (ready, running)"),
    ("pending", "#f9a825", "pending (changing)"),
    ("stopped", "#607d8b", "stopped"),
    ("failed", "#c62828", "failed"),
    ("pooled", "#7e57c2", "pooled (standby pool)"),
    ("gone", "#cfd8dc", "gone"),
];

/// The most VMs the timeline draws; the table lists them all.
const TIMELINE_ROWS: usize = 300;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1a1a1a;max-width:1200px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #ddd;padding-bottom:2px}
p.summary{font-size:15px;margin:8px 0 12px;padding:8px 12px;border-left:4px solid #2e7d32;background:#f3f8f3}
p.summary.failed{border-color:#c62828;background:#fbf0f0}p.summary.timedOut{border-color:#f9a825;background:#fdf8ea}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0;font-size:13px}dl.run dt{color:#555}dl.run dd{margin:0}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #e5e5e5;vertical-align:top;white-space:nowrap}td.why{white-space:normal;overflow-wrap:anywhere;min-width:12em}td.wrap{white-space:normal;overflow-wrap:break-word}
th{background:#f5f5f5}td.num{text-align:right}.tag{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;background:#eee}
.tag.output,.tag.member,.tag.removed-ok{background:#dcedc8}.tag.removed{background:#ffe0b2}.tag.failed{background:#ffcdd2}.tag.pending{background:#fff3c4}
.tag.stopped{background:#cfd8dc}.tag.outOfScope,.tag.gone{background:#f0f0f0;color:#666}
code{font-size:12px}svg{max-width:100%;height:auto}small{color:#666}
@media print{body{margin:0;font-size:10pt}th,td{white-space:normal}code{white-space:nowrap}tr{break-inside:avoid}h2{break-after:avoid}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
";

/// Escapes text for HTML content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A health state without Azure's `HealthState/` prefix.
fn short_health(health: &str) -> &str {
    health.strip_prefix("HealthState/").unwrap_or(health)
}

fn opt(value: Option<&str>) -> String {
    value.map(escape).unwrap_or_else(|| "&mdash;".into())
}

/// The page.
pub fn render(record: &Record) -> String {
    let run = &record.run;
    let mut h = String::new();
    let title = format!(
        "vmss-check decision record: {}{}",
        run.environment,
        run.task
            .as_deref()
            .map(|t| format!(", {t}"))
            .unwrap_or_default()
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        h,
        "<p class=\"summary {}\">{}</p>",
        escape(&run.result),
        escape(&summary(record))
    );
    run_facts(&mut h, record);
    targets(&mut h, &record.targets, &record.vms);
    vms(&mut h, &record.vms);
    scale_sets(&mut h, record);
    timeline(&mut h, record);
    variables(&mut h, record);
    checks(&mut h, record);
    h.push_str("</body></html>\n");
    h
}

/// The summary line, from the record's own counts: each decision counted as its name reads
/// ([`Reading`]).
fn summary(record: &Record) -> String {
    let count = |r: Reading| {
        record
            .targets
            .iter()
            .filter(|t| reading(&t.decision) == Some(r))
            .count()
    };
    crate::report::record_summary(
        &record.run.result,
        record.run.failure.as_deref(),
        crate::report::Tally {
            output: count(Reading::Output),
            removed: count(Reading::Removed),
            kept: count(Reading::Kept),
            left_out: count(Reading::LeftOut),
            vms: record.vms.len(),
            checks: record.checks.len(),
        },
    )
}

fn run_facts(h: &mut String, record: &Record) {
    let run = &record.run;
    let s = &run.settings;
    let sets: Vec<String> = s
        .scale_sets
        .iter()
        .map(|x| format!("{} (group {})", x.name, x.resource_group))
        .collect();
    let facts: Vec<(&str, String)> = vec![
        ("Scale sets", sets.join(", ")),
        ("Roles", s.roles.join(", ")),
        ("Space", run.space.clone().unwrap_or_default()),
        ("Environment", run.environment.clone()),
        ("Tenant", run.tenant.clone().unwrap_or_else(|| "untenanted".into())),
        ("Project", run.project.clone().unwrap_or_default()),
        (
            "Run",
            run.deployment
                .clone()
                .or_else(|| run.runbook_run.clone())
                .unwrap_or_default(),
        ),
        ("Task", run.task.clone().unwrap_or_default()),
        (
            "Trigger",
            run.trigger
                .as_ref()
                .map(|t| match &t.name {
                    Some(n) => format!("{n} ({})", t.id),
                    None => t.id.clone(),
                })
                .unwrap_or_else(|| "none (not a triggered run)".into()),
        ),
        ("Started", run.started.clone().unwrap_or_default()),
        ("Deadline", run.deadline.clone().unwrap_or_default()),
        ("Ended", run.ended.clone().unwrap_or_default()),
        (
            "Settings",
            format!(
                "timeout {} min ({}), poll every {} s, dry run {}, exclude old servers {} ({} min), duplicates {} within {} min",
                s.timeout_minutes,
                s.timeout_error_handle,
                s.poll_interval_seconds,
                yes(s.dry_run),
                yes(s.exclude_old_servers),
                s.old_servers_minutes,
                s.duplicate_handle,
                s.duplicate_minutes
            ),
        ),
        ("Duplicate run", yes(run.duplicate).into()),
        ("vmss-check", run.version.clone()),
    ];
    h.push_str("<dl class=\"run\">");
    for (k, v) in facts {
        let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    h.push_str("</dl>\n");
}

fn yes(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

fn targets(h: &mut String, rows: &[TargetRow], vms: &[VmRow]) {
    let _ = writeln!(
        h,
        "<h2>Targets by decision ({})</h2>\n<table><thead><tr><th>Decision</th><th>Target</th><th>Id</th><th>VM</th><th>Why</th><th>Removal</th></tr></thead><tbody>",
        rows.len()
    );
    let rank = |d: &str| DECISIONS.iter().position(|(x, _)| *x == d).unwrap_or(99);
    let mut sorted: Vec<&TargetRow> = rows.iter().collect();
    sorted.sort_by_key(|r| rank(&r.decision));
    let vm_of: std::collections::HashMap<&str, &str> = vms
        .iter()
        .filter_map(|v| Some((v.target.as_ref()?.id.as_str(), v.name.as_str())))
        .collect();
    for r in sorted {
        let vm = vm_of.get(r.id.as_str()).copied();
        let removal = match (&r.removal, &r.removal_error) {
            (Some(how), Some(err)) => format!("{}: {}", escape(how), escape(err)),
            (Some(how), None) => escape(how),
            (None, _) => String::new(),
        };
        let _ = writeln!(
            h,
            "<tr><td><span class=\"tag {}\">{}</span></td><td>{}{}</td><td><code>{}</code></td><td>{}</td><td class=\"why\">{}</td><td>{}</td></tr>",
            escape(&r.decision),
            escape(&r.decision),
            escape(&r.name),
            if r.disabled { " <small>(disabled)</small>" } else { "" },
            escape(&r.id),
            opt(vm),
            escape(&r.why),
            removal
        );
    }
    h.push_str("</tbody></table>\n");
}

fn vms(h: &mut String, rows: &[VmRow]) {
    let _ = writeln!(
        h,
        "<h2>VMs ({})</h2>\n<table><thead><tr><th>Scale set</th><th>Instance</th><th>VM</th><th>Computer name</th><th>Provisioning</th><th>Power</th><th>Class</th><th>Health</th><th>Protection</th><th>Target</th><th>Azure's reason</th></tr></thead><tbody>",
        rows.len()
    );
    for v in rows {
        let target = v
            .target
            .as_ref()
            .map(|t| format!("{} <small>{}</small>", escape(&t.name), escape(&t.id)))
            .unwrap_or_else(|| "&mdash;".into());
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"tag {}\">{}</span></td><td>{}</td><td>{}</td><td class=\"wrap\">{target}</td><td class=\"why\">{}</td></tr>",
            escape(&v.scale_set),
            escape(&v.instance_id),
            escape(&v.name),
            opt(v.computer_name.as_deref()),
            opt(v.provisioning_state.as_deref()),
            opt(v.power_state.as_deref()),
            escape(&v.class),
            escape(&v.class),
            // `HealthState/unhealthy` as `unhealthy`: the page is narrow, the JSON keeps it whole.
            match (v.health.as_deref().map(short_health), v.repair_due) {
                (Some(health), true) => format!("{} <small>(repair due)</small>", escape(health)),
                (health, _) => opt(health),
            },
            if v.protected_from.is_empty() {
                "&mdash;".to_string()
            } else {
                escape(&v.protected_from.join(", "))
            },
            opt(v.reason.as_deref()),
        );
    }
    h.push_str("</tbody></table>\n");
}

/// Each scale set's policies for replacing VMs on its own (nothing when none is on).
fn scale_sets(h: &mut String, record: &Record) {
    let on = |s: &crate::record::SetPolicyRow| {
        s.automatic_repairs.is_some()
            || s.zone_rebalancing
            || s.resilient_vm_creation
            || s.resilient_vm_deletion
    };
    if !record.scale_sets.iter().any(on) {
        return;
    }
    h.push_str("<h2>Azure's own replacements</h2>\n<table><thead><tr><th>Scale set</th><th>Automatic repairs</th><th>Zone balancing</th><th>Resilient create</th><th>Resilient delete</th></tr></thead><tbody>\n");
    let yes = |b: bool| if b { "on" } else { "off" };
    for s in &record.scale_sets {
        let repairs = match &s.automatic_repairs {
            Some(r) => format!(
                "{}, grace {}{}",
                escape(&r.repair_action),
                escape(&r.grace_period),
                r.service_state
                    .as_deref()
                    .map(|st| format!(" <small>({})</small>", escape(st)))
                    .unwrap_or_default()
            ),
            None => "off".into(),
        };
        let balance = match (s.zone_rebalancing, s.rebalance_under_way) {
            (_, true) => "rebalance under way",
            (true, false) => "on",
            (false, false) => "off",
        };
        let _ = writeln!(
            h,
            "<tr><td>{} <small>({})</small></td><td>{repairs}</td><td>{balance}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.name),
            escape(&s.resource_group),
            yes(s.resilient_vm_creation),
            yes(s.resilient_vm_deletion)
        );
    }
    h.push_str("</tbody></table>\n");
}

fn colour(class: &str) -> &'static str {
    CLASSES
        .iter()
        .find(|(c, _, _)| *c == class)
        .map(|(_, colour, _)| *colour)
        .unwrap_or("#ffffff")
}

/// One row of the timeline: a label and a class (or nothing) per column.
struct Lane {
    label: String,
    classes: Vec<Option<String>>,
}

/// Each scale set's lane: changing (pending) while its VMs could not be listed, failed when
/// its own state is, member otherwise; blank for a check that failed.
fn set_lanes(record: &Record) -> Vec<Lane> {
    record
        .run
        .settings
        .scale_sets
        .iter()
        .map(|set| {
            let mut classes: Vec<Option<String>> = record
                .checks
                .iter()
                .map(|c| {
                    let seen = c.scale_sets.iter().find(|s| s.name == set.name)?;
                    let state = seen.state.as_deref().unwrap_or("").to_ascii_lowercase();
                    Some(
                        match (seen.listed, state.as_str()) {
                            (false, _) => "pending",
                            (true, "failed" | "canceled") => "failed",
                            (true, _) => "member",
                        }
                        .to_string(),
                    )
                })
                .collect();
            classes.push(classes.last().cloned().flatten());
            Lane {
                label: format!("scale set {}", set.name),
                classes,
            }
        })
        .collect()
}

/// A VM's lane: its class from each change on, until the next; nothing before it was first
/// listed; then its class in the final listing.
fn vm_lane(vm: &VmRow, checks: &[u32]) -> Lane {
    let mut classes: Vec<Option<String>> = checks
        .iter()
        .map(|c| {
            vm.history
                .iter()
                .take_while(|h| h.check <= *c)
                .last()
                .map(|h| h.class.clone())
        })
        .collect();
    classes.push(Some(vm.class.clone()));
    Lane {
        label: vm.computer_name.clone().unwrap_or_else(|| vm.name.clone()),
        classes,
    }
}

/// Each scale set's and each VM's class at each check, and after the wait (the final
/// listing): one row each, one column per check, runs of one class drawn as one bar.
fn timeline(h: &mut String, record: &Record) {
    let checks: Vec<u32> = record.checks.iter().map(|c| c.number).collect();
    let mut lanes = set_lanes(record);
    let sets = lanes.len();
    lanes.extend(
        record
            .vms
            .iter()
            .take(TIMELINE_ROWS)
            .map(|vm| vm_lane(vm, &checks)),
    );
    let _ = writeln!(
        h,
        "<h2>Timeline</h2>\n<p><small>Each scale set (changing while its VMs could not be listed) and each VM, at each of the {} check(s), then in the final listing after the wait.{}</small></p>",
        checks.len(),
        if record.vms.len() > TIMELINE_ROWS {
            format!(" The first {TIMELINE_ROWS} of {} VMs are drawn.", record.vms.len())
        } else {
            String::new()
        }
    );
    let columns = checks.len() + 1;
    let (label, row_h, top, gap) = (190.0, 16.0, 22.0, 8.0);
    let cell = (760.0 / columns as f64).clamp(3.0, 48.0);
    let legend: f64 = CLASSES.iter().map(|(_, _, w)| legend_width(w)).sum();
    let width = (label + cell * columns as f64 + 10.0).max(legend);
    let y_of = |r: usize| top + row_h * r as f64 + if r >= sets { gap } else { 0.0 };
    let height = y_of(lanes.len()) + 34.0;
    let _ = writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\" aria-label=\"Each VM's class across the checks\">"
    );
    // Column labels: every check when they fit, else every tenth; and the final listing.
    let every = if cell >= 14.0 { 1 } else { 10 };
    for (n, number) in checks.iter().enumerate() {
        if n % every == 0 {
            let _ = write!(
                h,
                "<text x=\"{:.1}\" y=\"14\" text-anchor=\"middle\" fill=\"#555\">{number}</text>",
                label + cell * (n as f64 + 0.5)
            );
        }
    }
    let _ = writeln!(
        h,
        "<text x=\"{:.1}\" y=\"14\" text-anchor=\"middle\" fill=\"#555\">end</text>",
        label + cell * (checks.len() as f64 + 0.5)
    );
    for (r, lane) in lanes.iter().enumerate() {
        let y = y_of(r);
        let _ = write!(
            h,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\"{}>{}</text>",
            label - 6.0,
            y + row_h * 0.72,
            if r < sets {
                " font-style=\"italic\""
            } else {
                ""
            },
            escape(&lane.label)
        );
        let classes = &lane.classes;
        let mut start = 0;
        while start < classes.len() {
            let mut end = start + 1;
            while end < classes.len() && classes[end] == classes[start] {
                end += 1;
            }
            if let Some(class) = &classes[start] {
                let _ = write!(
                    h,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
                    label + cell * start as f64,
                    y + 2.0,
                    cell * (end - start) as f64 - 1.0,
                    row_h - 4.0,
                    colour(class),
                    escape(&lane.label),
                    escape(class)
                );
            }
            start = end;
        }
        h.push('\n');
    }
    let mut x = 0.0;
    let ly = y_of(lanes.len()) + 16.0;
    for (_, fill, words) in CLASSES {
        let _ = write!(
            h,
            "<rect x=\"{x:.0}\" y=\"{:.0}\" width=\"12\" height=\"12\" fill=\"{fill}\"/><text x=\"{:.0}\" y=\"{:.0}\">{}</text>",
            ly - 10.0,
            x + 16.0,
            ly,
            escape(words)
        );
        x += legend_width(words);
    }
    h.push_str("\n</svg>\n");
}

/// Room for one legend entry: the swatch, the words, a gap.
fn legend_width(words: &str) -> f64 {
    28.0 + 6.5 * words.len() as f64
}

fn variables(h: &mut String, record: &Record) {
    h.push_str("<h2>Output variables</h2>\n");
    if record.output_variables.is_empty() {
        h.push_str("<p>None were set.</p>\n");
        return;
    }
    h.push_str("<table><tbody>");
    for (k, v) in &record.output_variables {
        let _ = write!(
            h,
            "<tr><th><code>{}</code></th><td class=\"why\">{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    h.push_str("</tbody></table>\n");
}

fn checks(h: &mut String, record: &Record) {
    let _ = writeln!(
        h,
        "<h2>Checks ({})</h2>\n<table><thead><tr><th>#</th><th>When</th><th>Scale set</th><th>State</th><th>Ready</th><th>Changing</th><th>Stopped</th><th>Failed</th><th>Gone</th><th>Pooled</th><th>Azure's own changes</th><th>Read budget left</th></tr></thead><tbody>",
        record.checks.len()
    );
    for c in &record.checks {
        let budget: Vec<String> = c
            .read_budget
            .iter()
            .map(|b| format!("{} {}", b.bucket, b.remaining))
            .collect();
        let budget = escape(&budget.join(", "));
        if let Some(f) = &c.failure {
            let _ = writeln!(
                h,
                "<tr><td class=\"num\">{}</td><td>{}</td><td colspan=\"10\" class=\"why\">failed: {}</td></tr>",
                c.number,
                escape(&c.at),
                escape(f)
            );
            continue;
        }
        for s in &c.scale_sets {
            let n = |v: usize| {
                if s.listed {
                    v.to_string()
                } else {
                    String::new()
                }
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{budget}</td></tr>",
                c.number,
                escape(&c.at),
                escape(&s.name),
                opt(s.state.as_deref()),
                n(s.ready),
                n(s.changing),
                n(s.stopped),
                n(s.failed),
                n(s.gone),
                n(s.pooled),
                match (s.rolling_forward, s.zone_rebalancing) {
                    (true, true) => "rolling forward, zone rebalance",
                    (true, false) => "rolling forward",
                    (false, true) => "zone rebalance",
                    (false, false) => "",
                }
            );
        }
    }
    h.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<script>alert(1)</script>&\"'"),
            "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"
        );
    }
}
