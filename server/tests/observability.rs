//! The observability provisioning (`provisioning/`), proven: every
//! dashboard is well formed, points at a provisioned datasource and uses
//! only metrics of the contract in docs/observability.md; the scrape
//! configs pass vmagent's and promtool's own checks; and with real
//! VictoriaMetrics and vmagent scraping the simulated fleet and the control
//! plane through the shipped static scrape config, every metric a panel
//! names exists and every panel's query returns data.

mod common;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use promql_parser::parser::{self, Expr};
use promql_parser::util::{walk_expr, ExprVisitor};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use test_support::KillOnDrop;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn provisioning(rel: &str) -> PathBuf {
    root().join("provisioning").join(rel)
}

// ---- the typed model of what the provisioning holds ----

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct DatasourceRef {
    #[serde(rename = "type")]
    kind: String,
    uid: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dashboard {
    uid: String,
    title: String,
    schema_version: u32,
    tags: Vec<String>,
    panels: Vec<Panel>,
    templating: Templating,
    #[serde(default)]
    annotations: Annotations,
}

#[derive(Debug, Default, Deserialize)]
struct Annotations {
    #[serde(default)]
    list: Vec<Annotation>,
}

#[derive(Debug, Deserialize)]
struct Annotation {
    name: String,
    datasource: DatasourceRef,
    expr: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Templating {
    list: Vec<Variable>,
}

#[derive(Debug, Deserialize)]
struct Variable {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    datasource: Option<DatasourceRef>,
    query: Option<serde_json::Value>,
    definition: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Panel {
    id: u32,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    grid_pos: GridPos,
    datasource: Option<DatasourceRef>,
    #[serde(default)]
    targets: Vec<Target>,
    /// A collapsed row holds its panels.
    #[serde(default)]
    panels: Vec<Panel>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct GridPos {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    ref_id: String,
    datasource: Option<DatasourceRef>,
    expr: Option<String>,
    query: Option<String>,
    query_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Datasources {
    api_version: u32,
    datasources: Vec<Datasource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Datasource {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    uid: String,
    url: String,
    #[serde(default)]
    json_data: serde_json::Value,
}

fn dashboards() -> Vec<(String, Dashboard)> {
    let dir = provisioning("grafana/dashboards");
    let mut out: Vec<(String, Dashboard)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let d: Dashboard = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not a dashboard: {e}", p.display()));
            (p.file_stem().unwrap().to_string_lossy().into_owned(), d)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn datasources() -> Datasources {
    let p = provisioning("grafana/datasources/datasources.yml");
    serde_norway::from_str(&std::fs::read_to_string(&p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every panel, rows' own panels included.
fn all_panels(panels: &[Panel]) -> Vec<&Panel> {
    let mut out = Vec::new();
    for p in panels {
        out.push(p);
        out.extend(all_panels(&p.panels));
    }
    out
}

/// A panel query of one dashboard: where it is, its datasource and text.
struct Query {
    at: String,
    datasource: DatasourceRef,
    text: String,
}

fn queries(uid: &str, d: &Dashboard) -> Vec<Query> {
    let mut out = Vec::new();
    for p in all_panels(&d.panels) {
        for t in &p.targets {
            let text = t.expr.clone().or_else(|| t.query.clone());
            if let (Some(ds), Some(text)) = (t.datasource.clone().or(p.datasource.clone()), text) {
                out.push(Query {
                    at: format!("{uid} › {} ({})", p.title, t.ref_id),
                    datasource: ds,
                    text,
                });
            }
        }
    }
    for a in &d.annotations.list {
        if let Some(expr) = &a.expr {
            out.push(Query {
                at: format!("{uid} › annotation {}", a.name),
                datasource: a.datasource.clone(),
                text: expr.clone(),
            });
        }
    }
    out
}

/// Grafana's built-in variables, and the dashboard's own query variables
/// (used as regex matchers), replaced the way a query runs with "All".
fn substitute(expr: &str, vars: &BTreeSet<String>) -> String {
    let mut s = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "5m");
    // Longest names first: `$instance` must not eat `$instance_kind`.
    let mut names: Vec<&String> = vars.iter().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in names {
        s = s
            .replace(&format!("${{{n}}}"), ".*")
            .replace(&format!("${n}"), ".*");
    }
    s
}

/// The metric names an expression selects.
fn metric_names(expr: &Expr) -> BTreeSet<String> {
    selectors(expr).into_keys().collect()
}

/// Each metric an expression selects, with the label names its matchers
/// name.
fn selectors(expr: &Expr) -> BTreeMap<String, BTreeSet<String>> {
    struct Names(BTreeMap<String, BTreeSet<String>>);
    impl ExprVisitor for Names {
        type Error = String;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            match &vs.name {
                Some(n) => {
                    let labels = self.0.entry(n.clone()).or_default();
                    for m in vs
                        .matchers
                        .matchers
                        .iter()
                        .chain(vs.matchers.or_matchers.iter().flatten())
                    {
                        if m.name != "__name__" {
                            labels.insert(m.name.clone());
                        }
                    }
                    Ok(true)
                }
                None => Err("a selector without a metric name ({__name__=~…})".into()),
            }
        }
    }
    let mut v = Names(BTreeMap::new());
    walk_expr(&mut v, expr).unwrap_or_else(|e| panic!("{e}"));
    v.0
}

/// The metric names of the contract: the backticked names in the tables of
/// docs/observability.md, `<s>_` expanded to the four platform services.
fn contract() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root().join("docs/observability.md")).unwrap();
    let contract = doc
        .split("## The metric contract")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/observability.md has a metric contract section");
    let mut out = BTreeSet::from(["up".to_owned()]);
    for (i, chunk) in contract.split('`').enumerate() {
        let name_like = chunk.contains('_')
            && chunk
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_<>".contains(c))
            && chunk.starts_with(|c: char| c.is_ascii_lowercase() || c == '<');
        if i % 2 == 1 && name_like {
            match chunk.strip_prefix("<s>_") {
                Some(rest) => {
                    for s in ["gateway", "aggregate", "projection", "runner"] {
                        out.insert(format!("{s}_{rest}"));
                    }
                }
                None => {
                    out.insert(chunk.to_owned());
                }
            }
        }
    }
    out
}

/// A histogram's series names are its name plus `_bucket`/`_sum`/`_count`.
fn in_contract(name: &str, contract: &BTreeSet<String>) -> bool {
    contract.contains(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| contract.contains(base) && base.ends_with("_seconds"))
        })
}

const PANEL_TYPES: &[&str] = &[
    "timeseries",
    "stat",
    "gauge",
    "table",
    "bargauge",
    "logs",
    "traces",
    "row",
    "text",
];

/// The dashboards the issue names: the base set, the operability set and
/// the control plane's own.
const DASHBOARDS: &[&str] = &[
    "cl-overview",
    "cl-http",
    "cl-logs",
    "cl-traces",
    "cl-eventbus",
    "cl-workers",
    "cl-storage",
    "cl-cluster",
    "cl-noisy-neighbour",
    "cl-regression",
    "cl-bottlenecks",
    "cl-exhaustion",
    "cl-control-plane",
];

/// `label_values(metric, label)`: the only form of query variable.
fn label_values(q: &str) -> Option<(String, String)> {
    let inner = q.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    let (m, l) = inner.split_once(',')?;
    Some((m.trim().to_owned(), l.trim().to_owned()))
}

fn variable_query(v: &Variable) -> Option<String> {
    match &v.query {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Object(o)) => {
            o.get("query").and_then(|q| q.as_str()).map(String::from)
        }
        _ => None,
    }
}

#[test]
fn dashboards_are_well_formed_and_use_only_contract_metrics() {
    let ds = datasources();
    let known: BTreeMap<&str, &str> = ds
        .datasources
        .iter()
        .map(|d| (d.uid.as_str(), d.kind.as_str()))
        .collect();
    let contract = contract();
    let all = dashboards();
    let uids: Vec<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        uids.iter().copied().collect::<BTreeSet<_>>(),
        DASHBOARDS.iter().copied().collect::<BTreeSet<_>>(),
        "the provisioned dashboards"
    );
    let mut titles = BTreeSet::new();
    for (file, d) in &all {
        assert_eq!(&d.uid, file, "{file}.json: the file is named after its uid");
        assert!(titles.insert(d.title.clone()), "{file}: duplicate title");
        assert_eq!(d.schema_version, 39, "{file}: schemaVersion");
        assert!(d.tags.iter().any(|t| t == "cloudlysis"), "{file}: tag");

        // Variables: query variables are label_values over contract metrics.
        let mut query_vars = BTreeSet::new();
        let mut text_vars = BTreeSet::new();
        for v in &d.templating.list {
            match v.kind.as_str() {
                "query" => {
                    let ds = v
                        .datasource
                        .as_ref()
                        .expect("a query variable's datasource");
                    assert_eq!(
                        known.get(ds.uid.as_str()),
                        Some(&"prometheus"),
                        "{file}: ${}",
                        v.name
                    );
                    let q = variable_query(v).unwrap_or_default();
                    let (m, _) = label_values(&q).unwrap_or_else(|| {
                        panic!("{file}: ${} is not label_values(…): {q}", v.name)
                    });
                    assert!(in_contract(&m, &contract), "{file}: ${} uses {m}", v.name);
                    if let Some(def) = &v.definition {
                        assert_eq!(def.trim(), q.trim(), "{file}: ${} definition", v.name);
                    }
                    query_vars.insert(v.name.clone());
                }
                "interval" | "custom" => {
                    query_vars.insert(v.name.clone());
                }
                "textbox" => {
                    text_vars.insert(v.name.clone());
                }
                other => panic!("{file}: ${} has variable type {other}", v.name),
            }
        }

        // Panels: ids unique, laid out on 24 columns without overlap.
        let panels = all_panels(&d.panels);
        let mut ids = BTreeSet::new();
        let mut cells = BTreeSet::new();
        for p in &panels {
            assert!(ids.insert(p.id), "{file}: panel id {} twice", p.id);
            assert!(
                PANEL_TYPES.contains(&p.kind.as_str()),
                "{file}: {} is a {}",
                p.title,
                p.kind
            );
            let g = p.grid_pos;
            assert!(
                g.w >= 1 && g.h >= 1 && g.x + g.w <= 24,
                "{file}: {} at {g:?}",
                p.title
            );
            for x in g.x..g.x + g.w {
                for y in g.y..g.y + g.h {
                    assert!(
                        cells.insert((x, y)),
                        "{file}: {} overlaps another panel",
                        p.title
                    );
                }
            }
            if matches!(p.kind.as_str(), "row" | "text") {
                assert!(p.targets.is_empty(), "{file}: {} has targets", p.title);
                continue;
            }
            let pds = p
                .datasource
                .as_ref()
                .unwrap_or_else(|| panic!("{file}: {} has no datasource", p.title));
            assert_eq!(
                known.get(pds.uid.as_str()),
                Some(&pds.kind.as_str()),
                "{file}: {} uses a datasource that is not provisioned",
                p.title
            );
            assert!(!p.targets.is_empty(), "{file}: {} has no query", p.title);
            let mut refs = BTreeSet::new();
            for t in &p.targets {
                assert!(
                    refs.insert(&t.ref_id),
                    "{file}: {} refId {} twice",
                    p.title,
                    t.ref_id
                );
                if let Some(tds) = &t.datasource {
                    assert_eq!(tds, pds, "{file}: {} target datasource", p.title);
                }
                if pds.kind == "tempo" {
                    assert!(
                        matches!(t.query_type.as_deref(), Some("traceql" | "serviceMap")),
                        "{file}: {} queryType",
                        p.title
                    );
                }
            }
        }

        for q in queries(file, d) {
            match q.datasource.kind.as_str() {
                "prometheus" => {
                    for n in &text_vars {
                        assert!(
                            !q.text.contains(&format!("${n}")),
                            "{}: ${n} in PromQL",
                            q.at
                        );
                    }
                    let expr = substitute(&q.text, &query_vars);
                    assert!(
                        !expr.contains('$'),
                        "{}: an undefined variable in {expr}",
                        q.at
                    );
                    let ast =
                        parser::parse(&expr).unwrap_or_else(|e| panic!("{}: {e}: {expr}", q.at));
                    for m in metric_names(&ast) {
                        assert!(
                            in_contract(&m, &contract),
                            "{}: {m} is not in the contract",
                            q.at
                        );
                    }
                }
                "loki" => check_logql(&q, &query_vars, &text_vars),
                "tempo" => check_traceql(&q, &query_vars, &text_vars),
                other => panic!("{}: datasource type {other}", q.at),
            }
        }
    }
}

/// No LogQL parser exists in Rust: check what the log contract fixes — a
/// stream selector first, on the stream labels only (ids are structured
/// metadata, never labels), balanced brackets, variables defined.
fn check_logql(q: &Query, query_vars: &BTreeSet<String>, text_vars: &BTreeSet<String>) {
    let t = &q.text;
    let open = t
        .find('{')
        .unwrap_or_else(|| panic!("{}: no stream selector", q.at));
    let close = t[open..].find('}').map(|i| i + open).unwrap();
    for m in t[open + 1..close]
        .split(',')
        .filter(|m| !m.trim().is_empty())
    {
        let label: String = m
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            ["service", "stack", "level"].contains(&label.as_str()),
            "{}: stream label {label} (only service, stack, level are labels)",
            q.at
        );
    }
    balanced(q);
    defined(q, query_vars, text_vars);
}

/// No TraceQL parser exists in Rust either: a span set in braces (or a
/// service-map query, which has none), balanced, variables defined.
fn check_traceql(q: &Query, query_vars: &BTreeSet<String>, text_vars: &BTreeSet<String>) {
    let t = q.text.trim();
    if t.is_empty() {
        return;
    }
    assert!(
        t.starts_with('{'),
        "{}: a TraceQL span set starts with {{: {t}",
        q.at
    );
    balanced(q);
    defined(q, query_vars, text_vars);
}

/// Every `$name` a query uses is a dashboard variable or a built-in.
fn defined(q: &Query, query_vars: &BTreeSet<String>, text_vars: &BTreeSet<String>) {
    for name in variables(&q.text) {
        assert!(
            name.starts_with("__") || text_vars.contains(&name) || query_vars.contains(&name),
            "{}: ${name} is not defined",
            q.at
        );
    }
}

fn balanced(q: &Query) {
    for (o, c) in [('(', ')'), ('{', '}'), ('[', ']')] {
        assert_eq!(
            q.text.matches(o).count(),
            q.text.matches(c).count(),
            "{}: unbalanced {o}{c}",
            q.at
        );
    }
    assert_eq!(
        q.text.matches('"').count() % 2,
        0,
        "{}: unbalanced quotes",
        q.at
    );
}

/// The `$name` / `${name}` variables a query uses.
fn variables(t: &str) -> Vec<String> {
    t.split('$')
        .skip(1)
        .map(|rest| {
            rest.trim_start_matches('{')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn the_datasources_link_logs_traces_and_metrics() {
    let ds = datasources();
    assert_eq!(ds.api_version, 1);
    let by_uid: BTreeMap<&str, &Datasource> =
        ds.datasources.iter().map(|d| (d.uid.as_str(), d)).collect();
    let kind = |uid: &str| by_uid.get(uid).map(|d| d.kind.as_str());
    assert_eq!(kind("victoriametrics"), Some("prometheus"));
    assert_eq!(kind("loki"), Some("loki"));
    assert_eq!(kind("tempo"), Some("tempo"));
    for d in &ds.datasources {
        assert!(d.url.starts_with("http://"), "{}: {}", d.name, d.url);
    }
    // Exemplars → Tempo; Loki's trace_id → Tempo; Tempo → Loki and metrics.
    let vm = &by_uid["victoriametrics"].json_data;
    assert!(vm["exemplarTraceIdDestinations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| kind(e["datasourceUid"].as_str().unwrap()) == Some("tempo")));
    let loki = &by_uid["loki"].json_data;
    let fields = loki["derivedFields"].as_array().unwrap();
    assert!(fields
        .iter()
        .any(|f| f["name"] == "trace_id"
            && kind(f["datasourceUid"].as_str().unwrap()) == Some("tempo")));
    let tempo = &by_uid["tempo"].json_data;
    assert_eq!(
        kind(tempo["tracesToLogsV2"]["datasourceUid"].as_str().unwrap()),
        Some("loki")
    );
    let logs_query = tempo["tracesToLogsV2"]["customQuery"]
        .as_bool()
        .unwrap_or(false);
    assert!(logs_query, "traces-to-logs queries by trace id");
    assert_eq!(
        kind(tempo["tracesToMetrics"]["datasourceUid"].as_str().unwrap()),
        Some("prometheus")
    );

    let provider: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(provisioning("grafana/dashboards/dashboards.yml")).unwrap(),
    )
    .unwrap();
    let p = &provider["providers"][0];
    assert_eq!(p["type"], "file");
    assert!(p["options"]["path"].as_str().is_some());
}

#[test]
fn the_scrape_configs_pass_vmagent_and_promtool() {
    const TEST: &str = "the_scrape_configs_pass_vmagent_and_promtool";
    let (Some(vmagent), Some(promtool)) = (
        test_support::binary("vmagent", TEST),
        test_support::binary("promtool", TEST),
    ) else {
        return;
    };
    for file in ["vmagent/scrape.static.yml", "vmagent/scrape.swarm.yml"] {
        let path = provisioning(file);
        let out = Command::new(&vmagent)
            .arg(format!("-promscrape.config={}", path.display()))
            .arg("-dryRun")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "vmagent -dryRun {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(&promtool)
            .args(["check", "config", "--syntax-only"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check config {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The checks can fail: a config with an unknown key is refused.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "scrape_configs:\n  - job_name: x\n    scrape_intervall: 1s\n",
    )
    .unwrap();
    let out = Command::new(&vmagent)
        .arg(format!("-promscrape.config={}", bad.display()))
        .arg("-dryRun")
        .output()
        .unwrap();
    assert!(!out.status.success(), "vmagent accepted an unknown key");
}

// ---- real VictoriaMetrics and vmagent ----

/// Panels whose metric the simulated stack cannot produce, with why. Each
/// entry must be used by some panel (the test fails on a stale one).
const NEEDS_MORE_THAN_THE_SIMULATOR: &[(&str, &str)] = &[
    (
        "control_deploy_events_total",
        "counts Swarm deploy events: needs a service update on a real Swarm (its values are tested in server/tests/deploy.rs)",
    ),
    (
        "control_swarm_tasks",
        "Swarm tasks by stack: needs stack services on a real Swarm (tested in engine/tests/swarm.rs)",
    ),
    (
        "control_swarm_service_replicas",
        "Swarm services by stack: needs stack services on a real Swarm (tested in engine/tests/swarm.rs)",
    ),
    (
        "control_swarm_nodes",
        "Swarm nodes: this suite runs the control plane without a Docker Engine",
    ),
    (
        "control_swarm_refresh_duration_seconds_bucket",
        "Swarm refreshes: this suite runs the control plane without a Docker Engine",
    ),
    (
        "control_swarm_refresh_errors_total",
        "Swarm refreshes: this suite runs the control plane without a Docker Engine",
    ),
];

async fn http_get(url: &str) -> Result<(u16, String), String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let res = tokio::time::timeout(Duration::from_secs(10), client.get(uri))
        .await
        .map_err(|_| format!("{url}: timeout"))?
        .map_err(|e| format!("{url}: {e}"))?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The label names the series of one metric carry.
async fn label_names(vm: &str, metric: &str) -> BTreeSet<String> {
    let (_, body) = http_get(&format!("{vm}/api/v1/labels?match[]={}", encode(metric)))
        .await
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An instant query's result (`data.result`), or why there is none.
async fn query(vm: &str, expr: &str) -> Result<Vec<serde_json::Value>, String> {
    let (status, body) = http_get(&format!(
        "{vm}/api/v1/query?nocache=1&query={}",
        encode(expr)
    ))
    .await?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || v["status"] != "success" {
        return Err(format!("{status}: {body}"));
    }
    Ok(match &v["data"]["result"] {
        serde_json::Value::Array(a) => a.clone(),
        // A scalar result is a value.
        other if !other.is_null() => vec![other.clone()],
        _ => vec![],
    })
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> KillOnDrop {
    let out = std::fs::File::create(log).unwrap();
    KillOnDrop(
        Command::new(bin)
            .args(args)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display())),
    )
}

fn bind(port: u16, what: &str) -> std::net::TcpListener {
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
        panic!("{what} needs 127.0.0.1:{port} (the shipped static scrape config's target): {e}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_has_data_in_real_victoriametrics() {
    const TEST: &str = "every_panel_has_data_in_real_victoriametrics";
    let (Some(vm_bin), Some(vmagent), Some(node_exporter)) = (
        test_support::binary("victoria-metrics", TEST),
        test_support::binary("vmagent", TEST),
        test_support::binary("prometheus-node-exporter", TEST),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // The targets of scrape.static.yml: the sim on its default ports, the
    // control plane on :3000, the node exporter on :9100.
    drop(bind(9100, "the node exporter"));
    let _node = spawn(
        &node_exporter,
        &[
            "--web.listen-address=127.0.0.1:9100".into(),
            "--collector.disable-defaults".into(),
            "--collector.cpu".into(),
            "--collector.meminfo".into(),
            "--collector.filesystem".into(),
            "--collector.diskstats".into(),
            "--collector.loadavg".into(),
            "--collector.netdev".into(),
        ],
        &dir.path().join("node.log"),
    );
    let topo = sim::Topology {
        base_port: 4100,
        tenants: 40,
        ..sim::Topology::default()
    };
    // The simulated fleet on ports 4100-4124 (scrape.static.yml's targets).
    let (app, fleet, _fleet_dir) = common::with_fleet(&topo, |c| {
        c.fleet.poll_interval_ms = 500;
        c.jobs.poll_ms = 50;
    })
    .await;
    // One sick instance, so that error panels have errors to show.
    let sick = fleet
        .instances()
        .into_iter()
        .find(|i| i.kind == model::fleet::ServiceKind::Aggregate)
        .unwrap();
    fleet
        .set_faults(
            &sick.id,
            sim::Faults {
                error_rate: 0.05,
                ..sim::Faults::default()
            },
        )
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::from_std({
        let l = bind(3000, "the control plane");
        l.set_nonblocking(true).unwrap();
        l
    })
    .unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });

    let vm_port = test_support::free_port();
    let vm = format!("http://127.0.0.1:{vm_port}");
    let _vm = spawn(
        &vm_bin,
        &[
            format!("-storageDataPath={}", dir.path().join("vm").display()),
            format!("-httpListenAddr=127.0.0.1:{vm_port}"),
            // Query what was just written: the default hides the last 30 s.
            "-search.latencyOffset=0s".into(),
        ],
        &dir.path().join("vm.log"),
    );
    let _vmagent = spawn(
        &vmagent,
        &[
            format!(
                "-promscrape.config={}",
                provisioning("vmagent/scrape.static.yml").display()
            ),
            format!("-remoteWrite.url={vm}/api/v1/write"),
            format!(
                "-remoteWrite.tmpDataPath={}",
                dir.path().join("vmagent").display()
            ),
            format!("-httpListenAddr=127.0.0.1:{}", test_support::free_port()),
        ],
        &dir.path().join("vmagent.log"),
    );

    // Traffic the dashboards show, over the real socket for as long as the
    // test runs: admin reads, a refused call, and a job with steps (routing
    // reload) every few seconds, so that step-latency quantiles over the
    // last minute have samples.
    let admin = format!("Bearer {}", app.admin);
    let traffic = tokio::spawn(async move {
        let plane: std::net::SocketAddr = "127.0.0.1:3000".parse().unwrap();
        for n in 0u32.. {
            for uri in [
                "/admin/v1/fleet/health",
                "/admin/v1/tenants",
                "/admin/v1/routing",
            ] {
                let _ =
                    test_support::request_with("GET", plane, uri, &[("Authorization", &admin)], "")
                        .await;
            }
            let _ = test_support::http("GET", plane, "/admin/v1/tenants", "").await;
            let key = format!("\"observability-{n}\"");
            let (status, body) = test_support::request_with(
                "POST",
                plane,
                "/admin/v1/jobs/routing.reload",
                &[("Authorization", &admin), ("Idempotency-Key", &key)],
                r#"{"reason":"observability suite"}"#,
            )
            .await
            .unwrap();
            assert_eq!(status, 202, "the reload job starts: {body}");
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
    });

    // Two scrapes of every target (15 s interval): rates need two samples.
    let targets = 25 + 2;
    let start = Instant::now();
    loop {
        // The sick instance fails some scrapes: count samples, and a
        // success per target.
        let up = query(&vm, "count(count_over_time(up[2m]) >= 2) or vector(0)").await;
        let ok = query(&vm, "sum(max_over_time(up[2m])) or vector(0)").await;
        let n = |r: &Result<Vec<serde_json::Value>, String>| {
            r.as_ref()
                .ok()
                .and_then(|v| v.first().cloned())
                .and_then(|s| s["value"][1].as_str().and_then(|x| x.parse::<f64>().ok()))
                .unwrap_or(0.0)
        };
        if n(&up) >= targets as f64 && n(&ok) >= targets as f64 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "every target scraped twice and up: {up:?} {ok:?}; vmagent log: {}",
            std::fs::read_to_string(dir.path().join("vmagent.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Every platform service and the control plane say what build they run.
    let builds = query(
        &vm,
        r#"{__name__=~"(gateway|aggregate|projection|runner|control)_build_info"}"#,
    )
    .await
    .unwrap();
    let mut seen = BTreeSet::new();
    for s in &builds {
        let m = &s["metric"];
        let service = m["service"].as_str().unwrap().to_owned();
        assert_eq!(m["__name__"], format!("{service}_build_info"), "{m}");
        assert!(m["version"].as_str().is_some_and(|v| !v.is_empty()), "{m}");
        assert!(m["git_sha"].as_str().is_some_and(|v| !v.is_empty()), "{m}");
        assert_eq!(s["value"][1], "1", "{m}");
        if service != "control" {
            // The static config derives image_tag from the fleet's version.
            assert_eq!(m["image_tag"], m["version"], "{m}");
        }
        seen.insert(service);
    }
    assert_eq!(
        seen,
        ["aggregate", "control", "gateway", "projection", "runner"]
            .map(String::from)
            .into(),
        "build_info from every service"
    );

    // Every metric a panel names exists, and every query returns data.
    let (_, names) = http_get(&format!("{vm}/api/v1/label/__name__/values"))
        .await
        .unwrap();
    let names: BTreeSet<String> = serde_json::from_str::<serde_json::Value>(&names).unwrap()
        ["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let excused: BTreeMap<&str, &str> = NEEDS_MORE_THAN_THE_SIMULATOR.iter().copied().collect();
    let mut used_excuses = BTreeSet::new();
    let mut failures = Vec::new();
    let mut proven = 0;
    let mut pending = Vec::new();
    for (file, d) in dashboards() {
        let vars: BTreeSet<String> = d.templating.list.iter().map(|v| v.name.clone()).collect();
        for v in &d.templating.list {
            if v.kind != "query" {
                continue;
            }
            let (m, l) = label_values(&variable_query(v).unwrap()).unwrap();
            let (_, body) = http_get(&format!(
                "{vm}/api/v1/label/{l}/values?match[]={}",
                encode(&m)
            ))
            .await
            .unwrap();
            let values = serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"].clone();
            if values.as_array().is_none_or(|a| a.is_empty()) && !excused.contains_key(m.as_str()) {
                failures.push(format!(
                    "{file}: variable ${} (label_values({m}, {l})) has no values",
                    v.name
                ));
            }
        }
        for q in queries(&file, &d) {
            if q.datasource.kind != "prometheus" {
                continue;
            }
            let expr = substitute(&q.text, &vars);
            let selected = selectors(&parser::parse(&expr).unwrap());
            let metrics: BTreeSet<&String> = selected.keys().collect();
            let excuse: Vec<&str> = metrics
                .iter()
                .filter_map(|m| excused.get_key_value(m.as_str()).map(|(k, _)| *k))
                .collect();
            if !excuse.is_empty() {
                used_excuses.extend(excuse);
                continue;
            }
            // `… or vector(0)` answers even when a selector matches
            // nothing: prove each selector's metric and label names too.
            for (m, labels) in &selected {
                if !names.contains(m) {
                    failures.push(format!("{}: {m} is not in VictoriaMetrics", q.at));
                    continue;
                }
                let keys = label_names(&vm, m).await;
                for l in labels.iter().filter(|l| !keys.contains(*l)) {
                    failures.push(format!("{}: no {m} series has the label {l}", q.at));
                }
            }
            pending.push((q.at, expr));
        }
    }
    // A rate over a fresh scrape can need one more scrape: retry what has
    // no data yet, together, until one deadline.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let mut still = Vec::new();
        for (at, expr) in pending {
            match query(&vm, &expr).await {
                Ok(r) if !r.is_empty() => proven += 1,
                res => still.push((at, expr, res)),
            }
        }
        if still.is_empty() || Instant::now() >= deadline {
            for (at, expr, res) in still {
                failures.push(format!("{at}: no data for {expr}: {res:?}"));
            }
            break;
        }
        pending = still.into_iter().map(|(at, expr, _)| (at, expr)).collect();
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let stale: Vec<&str> = excused
        .keys()
        .copied()
        .filter(|k| !used_excuses.contains(k))
        .collect();
    assert!(stale.is_empty(), "excuses no panel needs: {stale:?}");
    assert!(
        failures.is_empty(),
        "{} panel queries proven; failures:\n{}",
        proven,
        failures.join("\n")
    );
    eprintln!(
        "{TEST}: {proven} panel queries returned data; {} excused",
        used_excuses.len()
    );
    assert!(
        !traffic.is_finished(),
        "the traffic loop failed: {:?}",
        traffic.await
    );
    traffic.abort();
    drop(fleet);
}
