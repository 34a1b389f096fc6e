//! The simulator held to the published descriptions of the services it stands in for: Azure's
//! REST specification for Microsoft.Compute 2024-07-01 (and what 2025-04-01 adds to the
//! definitions the step reads at it, laid over them) and Microsoft.StandbyPool 2025-03-01, and
//! Octopus's 2020.5 Swagger, vendored under `tests/fixtures/spec` (sources and licences in
//! `tests/fixtures/SOURCES.md`).
//!
//! The step runs against the simulator through every route it uses; then every path and query
//! parameter it sent must be one the description has for that route (where it lists them), and
//! the simulator's answer on each route, fetched again over HTTP with the same path and query,
//! must match the route's response schema. A simulator that drifts from the real services makes
//! every other test prove less, so this is where the drift is caught.
//!
//! The schema check is a small validator for the subset of OpenAPI 2.0 these descriptions use
//! (`$ref` across files, `allOf`, `properties`, `additionalProperties`, `items`, `type`, `enum`,
//! `required`, `format: date-time`); `x-ms-*` extensions are ignored, but for one: an enum marked
//! `x-ms-enum.modelAsString` is open, as Azure's own examples need. A property a description
//! does not declare is an error, so an invented field shows up, with two exceptions the
//! descriptions force: `null` is accepted anywhere (neither service's Swagger 2.0 can say
//! "nullable", and both send nulls), and a bare `{"type": "object"}` accepts any value (it is
//! how Swashbuckle writes C#'s `object`, and how Azure writes free-form settings).

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use time::Duration as Span;
use vmss_check::sim::stories::{self, ENVIRONMENT, PROJECT, SCALE_SET, TRIGGER};
use vmss_check::sim::world::Seen;
use vmss_check::sim::{Service, Sim, World};

const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spec");

/// Octopus definitions that are open to properties they do not list: the Swagger describes the
/// polymorphic base only (a Tentacle's endpoint also has `Uri` and `Thumbprint`).
const OPEN_DEFINITIONS: &[&str] = &["EndpointResource"];

/// Fields later servers add to a 2020.5 definition, as Octopus's API documentation gives them:
/// OctopusDeploy/docs, `src/pages/docs/api/_generated/tag-sets.md` at
/// `c3a19ffcb58efd8fe563385c744b713b72ee9cc0` (the answer of `GET /api/{spaceId}/tagsets/all`:
/// `IsSystem` boolean, `Scopes` array of string, `Type` string). Target tag sets (2025.4) arrived
/// with them. Read there, not copied: see `tests/fixtures/SOURCES.md`.
const LATER_FIELDS: &[(&str, &str, &str)] = &[
    ("TagSetResource", "IsSystem", r#"{"type": "boolean"}"#),
    (
        "TagSetResource",
        "Scopes",
        r#"{"type": "array", "items": {"type": "string"}}"#,
    ),
    ("TagSetResource", "Type", r#"{"type": "string"}"#),
];

/// Query parameters the client sends that neither the 2020.5 Swagger nor the 2019.7 root
/// document lists, and why they are right anyway.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[(
    "/api/{baseSpaceId}/tasks",
    "runbook",
    "runbooks arrived in 2019.11: the root document of later servers lists `runbook` in \
     `Links.Tasks`; the vendored 2019.7 one predates it and the Swagger lists no task filters",
)];

/// The compute api-version the step reads a scale set, its instance view and a
/// resilient-deleting set's VMs at (`vmss_check::azure::NEWER_API_VERSION`).
const NEWER: &str = "2025-04-01";

/// Properties Azure answers that no published description has yet (2025-04-01's
/// `OrchestrationServiceSummary` has only `serviceName` and `serviceState`), each with the page
/// of Microsoft's documentation that shows it; laid over the descriptions for answers at
/// [`NEWER`], as strings.
const DOCUMENTED_ONLY: &[(&str, &str, &str)] = &[
    (
        "OrchestrationServiceSummary",
        "latestOperationStatus",
        "MicrosoftDocs/azure-compute-docs, articles/virtual-machine-scale-sets/\
         auto-zone-balance-enable.md (FAQ, the set's instance view at 2025-04-01: \
         `InProgress` while a rebalance runs, `Completed` after)",
    ),
    (
        "OrchestrationServiceSummary",
        "lastStatusChangeTime",
        "the same page: when the status last changed",
    ),
];

/// A set of Swagger 2.0 documents that `$ref` one another by relative path, read as one API.
struct Spec {
    /// Documents by file name.
    docs: HashMap<String, Value>,
    /// The documents whose `paths` describe routes.
    route_files: Vec<String>,
    /// Octopus's root-document URI templates: a collection's path and the query parameters
    /// its `Links` entry lists.
    templates: Vec<(String, BTreeSet<String>)>,
    /// Definitions open to undeclared properties.
    open: &'static [&'static str],
    /// Where the API sits under the server (Octopus: the configured path prefix).
    strip_prefix: String,
}

/// What an object schema allows: its properties (with the file each is written in), the names
/// it requires, whether it takes undeclared properties, and the schema of those it takes.
#[derive(Default)]
struct Shape<'a> {
    props: BTreeMap<String, (String, &'a Value)>,
    required: BTreeSet<String>,
    open: bool,
    additional: Option<(String, &'a Value)>,
}

/// A route of a description that a request matched.
struct Route<'a> {
    file: String,
    template: String,
    op: &'a Value,
}

fn read(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{SPEC_DIR}/{name}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(text.trim_start_matches('\u{feff}')).expect("a description is JSON")
}

impl Spec {
    fn azure() -> Spec {
        let names = [
            "virtualMachineScaleSet.json",
            "virtualMachine.json",
            "standbypool.json",
            "computeRPCommon.json",
            "common.json",
            "types.json",
        ];
        Spec {
            docs: names.iter().map(|n| (n.to_string(), read(n))).collect(),
            route_files: vec![names[0].into(), names[1].into(), names[2].into()],
            templates: Vec::new(),
            open: &[],
            strip_prefix: String::new(),
        }
    }

    /// Compute at [`NEWER`]: the 2024-07-01 files with what 2025-04-01 adds to the
    /// definitions the step's reads at it answer with (`compute-2025-04-01-additions.json`,
    /// copied from 2025-04-01 unchanged), and the [`DOCUMENTED_ONLY`] properties.
    fn azure_newer() -> Spec {
        let mut spec = Spec::azure();
        let additions = read("compute-2025-04-01-additions.json");
        let defs = &mut spec
            .docs
            .get_mut("virtualMachineScaleSet.json")
            .expect("vendored")["definitions"];
        for (name, definition) in additions["definitions"].as_object().expect("definitions") {
            defs[name] = definition.clone();
        }
        for (name, props) in additions["properties"].as_object().expect("properties") {
            for (prop, schema) in props.as_object().expect("a definition's properties") {
                defs[name]["properties"][prop] = schema.clone();
            }
        }
        for (name, prop, _) in DOCUMENTED_ONLY {
            defs[*name]["properties"][*prop] = json!({"type": "string"});
        }
        spec
    }

    fn octopus(prefix: &str) -> Spec {
        let root = read("../octopus/api.GET.json");
        let templates = root["Links"]
            .as_object()
            .expect("the root document has Links")
            .values()
            .filter_map(Value::as_str)
            .filter_map(|t| {
                let path = t.split('{').next()?.to_string();
                let params = t
                    .split("{?")
                    .nth(1)?
                    .trim_end_matches('}')
                    .split(',')
                    .map(str::to_string)
                    .collect();
                Some((path, params))
            })
            .collect();
        let name = "octopus-swagger-2020.5.json";
        let mut swagger = read(name);
        for (definition, field, schema) in LATER_FIELDS {
            swagger["definitions"][definition]["properties"][field] =
                serde_json::from_str(schema).expect("a schema");
        }
        Spec {
            docs: HashMap::from([(name.to_string(), swagger)]),
            route_files: vec![name.into()],
            templates,
            open: OPEN_DEFINITIONS,
            strip_prefix: prefix.to_string(),
        }
    }

    /// The document and node a `$ref` written in `file` points at.
    fn resolve<'a>(&'a self, file: &str, reference: &str) -> (String, &'a Value) {
        let (target, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let target = match target.rsplit('/').next().unwrap_or("") {
            "" => file.to_string(),
            name => name.to_string(),
        };
        let doc = self
            .docs
            .get(&target)
            .unwrap_or_else(|| panic!("{reference} (from {file}): {target} is not vendored"));
        let node = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{reference} (from {file}) does not resolve"));
        (target, node)
    }

    /// The route a request matches: literal segments equal (ignoring case), `{…}` any one
    /// segment; the most literal match wins.
    fn route(&self, method: &str, path: &str) -> Option<Route<'_>> {
        let path = path
            .strip_prefix(self.strip_prefix.as_str())
            .unwrap_or(path);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(usize, Route<'_>)> = None;
        for file in &self.route_files {
            let paths = self.docs[file]["paths"].as_object().expect("paths");
            for (template, ops) in paths {
                let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
                if parts.len() != segments.len() {
                    continue;
                }
                let fits = parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p.starts_with('{') || p.eq_ignore_ascii_case(s));
                let Some(op) = ops.get(method.to_ascii_lowercase()) else {
                    continue;
                };
                let literals = parts.iter().filter(|p| !p.starts_with('{')).count();
                if fits && best.as_ref().is_none_or(|(n, _)| literals > *n) {
                    let route = Route {
                        file: file.clone(),
                        template: template.clone(),
                        op,
                    };
                    best = Some((literals, route));
                }
            }
        }
        best.map(|(_, r)| r)
    }

    /// The query parameters a route's description lists, and those it requires.
    fn query_params(&self, route: &Route<'_>) -> (BTreeSet<String>, BTreeSet<String>) {
        let (mut listed, mut required) = (BTreeSet::new(), BTreeSet::new());
        let params = route.op["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for p in &params {
            let p = match p.get("$ref").and_then(Value::as_str) {
                Some(r) => self.resolve(&route.file, r).1,
                None => p,
            };
            if p["in"] == "query" {
                let name = p["name"].as_str().unwrap_or_default().to_string();
                if p["required"] == true {
                    required.insert(name.clone());
                }
                listed.insert(name);
            }
        }
        (listed, required)
    }

    /// Everything wrong with a request's path and query, as the description sees it.
    fn check_request(&self, seen: &Seen) -> Vec<String> {
        let what = format!("{} {}?{}", seen.method, seen.path, seen.query);
        let Some(route) = self.route(&seen.method, &seen.path) else {
            return vec![format!("{what}: no route of the description has this path")];
        };
        let (mut allowed, required) = self.query_params(&route);
        let path = seen
            .path
            .strip_prefix(self.strip_prefix.as_str())
            .unwrap_or(&seen.path);
        for (collection, params) in &self.templates {
            if collection.eq_ignore_ascii_case(path) {
                allowed.extend(params.iter().cloned());
            }
        }
        let checked = !allowed.is_empty();
        // On a pageable list, `$skiptoken` is Azure's own continuation token: it writes it into
        // `nextLink`, and the client sends it back as given.
        if route.op.get("x-ms-pageable").is_some() {
            allowed.insert("$skiptoken".into());
        }
        for (template, name, _) in KNOWN_GAPS {
            if *template == route.template {
                allowed.insert(name.to_string());
            }
        }
        let sent: Vec<String> = url::form_urlencoded::parse(seen.query.as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
        let mut problems = Vec::new();
        for name in &sent {
            if checked && !allowed.contains(name) {
                problems.push(format!(
                    "{what}: `{name}` is not a query parameter of {}",
                    route.template
                ));
            }
        }
        for name in required {
            if !sent.contains(&name) {
                problems.push(format!("{what}: the required `{name}` is missing"));
            }
        }
        problems
    }

    /// The schema of a route's answer with this status, if the description gives one.
    fn response_schema<'a>(&self, route: &Route<'a>, status: u16) -> Option<&'a Value> {
        route.op["responses"]
            .get(status.to_string())
            .and_then(|r| r.get("schema"))
    }

    /// Everything about `value` that `schema` (written in `file`) does not allow.
    fn validate(&self, file: &str, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let (target, node) = self.resolve(file, r);
            let name = r.rsplit('/').next().unwrap_or_default();
            if self.open.contains(&name) {
                return self.validate_open(&target, node, value, at, out);
            }
            return self.validate(&target, node, value, at, out);
        }
        if value.is_null() {
            return;
        }
        let Shape {
            props,
            required,
            open,
            additional,
        } = self.shape(file, schema);
        let ty = schema["type"]
            .as_str()
            .unwrap_or(if props.is_empty() { "" } else { "object" });
        let bare_object = ty == "object" && props.is_empty() && additional.is_none();
        match ty {
            _ if bare_object => {}
            "object" => {
                let Some(map) = value.as_object() else {
                    return out.push(format!("{at}: expected an object, got {value}"));
                };
                for (k, v) in map {
                    let here = format!("{at}.{k}");
                    match (props.get(k), &additional) {
                        (Some((f, s)), _) => self.validate(f, s, v, &here, out),
                        (None, Some((f, s))) => self.validate(f, s, v, &here, out),
                        (None, None) if open => {}
                        (None, None) => out.push(format!("{here}: not in the description")),
                    }
                }
                for r in required {
                    if !map.contains_key(&r) {
                        out.push(format!("{at}: the required `{r}` is missing"));
                    }
                }
            }
            "array" => match value.as_array() {
                Some(items) => {
                    for (i, v) in items.iter().enumerate() {
                        self.validate(file, &schema["items"], v, &format!("{at}[{i}]"), out);
                    }
                }
                None => out.push(format!("{at}: expected an array, got {value}")),
            },
            "string" => match value.as_str() {
                Some(s) if schema["format"] == "date-time" => {
                    let f = time::format_description::well_known::Rfc3339;
                    if time::OffsetDateTime::parse(s, &f).is_err() {
                        out.push(format!("{at}: {s:?} is not a date-time"));
                    }
                }
                Some(_) => {}
                None => out.push(format!("{at}: expected a string, got {value}")),
            },
            "integer" if !(value.is_i64() || value.is_u64()) => {
                out.push(format!("{at}: expected an integer, got {value}"))
            }
            "number" if !value.is_number() => {
                out.push(format!("{at}: expected a number, got {value}"))
            }
            "boolean" if !value.is_boolean() => {
                out.push(format!("{at}: expected a boolean, got {value}"))
            }
            _ => {}
        }
        // An enum Azure marks `modelAsString` is open: new values arrive without a new
        // api-version (its own example lists VMs with a `networkApiVersion` outside the enum).
        let extensible = schema["x-ms-enum"]["modelAsString"] == true;
        if let Some(allowed) = schema["enum"].as_array().filter(|_| !extensible) {
            if !allowed.contains(value) {
                out.push(format!("{at}: {value} is none of {allowed:?}"));
            }
        }
    }

    /// Like `validate`, for a definition that may carry properties it does not list.
    fn validate_open(
        &self,
        file: &str,
        schema: &Value,
        value: &Value,
        at: &str,
        out: &mut Vec<String>,
    ) {
        let props = self.shape(file, schema).props;
        for (k, v) in value.as_object().into_iter().flatten() {
            if let Some((f, s)) = props.get(k) {
                self.validate(f, s, v, &format!("{at}.{k}"), out);
            }
        }
    }

    /// What an object schema allows, gathered through its `$ref`s and `allOf`s.
    fn shape<'a>(&'a self, file: &str, schema: &'a Value) -> Shape<'a> {
        let mut shape = Shape::default();
        self.collect(file, schema, &mut shape);
        shape
    }

    fn collect<'a>(&'a self, file: &str, schema: &'a Value, shape: &mut Shape<'a>) {
        let (file, schema) = match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(file, r),
            None => (file.to_string(), schema),
        };
        for (k, v) in schema["properties"].as_object().into_iter().flatten() {
            shape.props.insert(k.clone(), (file.clone(), v));
        }
        for r in schema["required"].as_array().into_iter().flatten() {
            shape
                .required
                .insert(r.as_str().unwrap_or_default().to_string());
        }
        match &schema["additionalProperties"] {
            Value::Bool(true) => shape.open = true,
            s @ Value::Object(_) => shape.additional = Some((file.clone(), s)),
            _ => {}
        }
        if schema.get("discriminator").is_some() {
            shape.open = true;
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.collect(&file, part, shape);
        }
    }

    /// Everything wrong with an answer of a route, as the description sees it: the answer must
    /// match the route's schema for its status. `None` when the description has no schema.
    fn check_answer(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Option<Vec<String>> {
        let route = self.route(method, path)?;
        let schema = self.response_schema(&route, status)?;
        let mut out = Vec::new();
        self.validate(&route.file, schema, body, &route.template, &mut out);
        Some(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Running the step through every route, then asking the simulator again.

/// A request the step sent, as the simulator recorded it, with the server it went to.
fn seen_all(sim: &Sim) -> Vec<Seen> {
    sim.world().seen.clone()
}

/// The step's runs over the routes it uses: a triggered Uniform scale-out that removes stale
/// targets and leaves old ones out of the output (scale set, instance list, targets, deletes,
/// tasks, deployment, events, environment); a Flexible set (the group's VM list); a tenanted
/// run that turns out a duplicate (tenant, deployment); and a duplicate runbook run that
/// cancels itself (runbook run, cancel).
fn scenarios() -> Vec<(Sim, Vec<(&'static str, &'static str)>)> {
    let triggered = [
        ("OCTOPUS_DEPLOYMENT_TRIGGER_ID", TRIGGER),
        ("OCTOPUS_DEPLOYMENT_TRIGGER_NAME", "New web VMs"),
    ];
    let mut uniform = stories::scale_out();
    uniform.arm_page_size = 4;
    // Target tag sets, one tag in two of them (a warning, and the tag sets' answer checked).
    uniform.add_target_tag_set("[System] Tag Set", &["web-server", "db-server"]);
    uniform.add_target_tag_set("Tier", &["web-server"]);
    let uniform_env = vec![
        triggered[0],
        triggered[1],
        ("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "Yes"),
    ];

    let mut flexible = World::new();
    flexible.arm_page_size = 2;
    flexible.add_scale_set("vmss-flex", "Flexible", &[(0, "Succeeded")], &[(0, 3)]);
    for i in 0..3 {
        let c = flexible.add_instance("vmss-flex", i, &[(0, "Creating"), (2, "Succeeded")]);
        flexible.add_target(&c, 0);
    }
    flexible.add_plain_vm("jumpbox", "jumpbox", &[(0, "Succeeded")]);
    let flexible_env = vec![("VMSS_SCALESET_NAME", "vmss-flex")];

    let mut tenanted = World::new();
    tenanted.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 2)]);
    for i in 0..2 {
        let c = tenanted.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        let id = tenanted.add_target(&c, 0);
        let m = tenanted.machine_mut(&id);
        m.tenant_ids = vec!["Tenants-1".into()];
        m.participation = "Tenanted".into();
    }
    tenanted.add_tenant("Tenants-1", &["Region/East"]);
    tenanted.tasks[0].tenant_id = Some("Tenants-1".into());
    // A run of the same deployment a moment ago: a duplicate, confirmed against its deployment.
    tenanted.add_finished_deployment(PROJECT, ENVIRONMENT, Some("Tenants-1"), Span::seconds(5));
    let tenanted_env = vec![
        triggered[0],
        triggered[1],
        ("OCTOPUS_DEPLOYMENT_TENANT_ID", "Tenants-1"),
    ];

    let mut runbook = World::new();
    runbook.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 1)]);
    let c = runbook.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    runbook.add_target(&c, 0);
    runbook.make_runbook_run("Runbooks-3");
    runbook.add_finished_runbook_run("Runbooks-3", Span::minutes(1));
    let runbook_env = vec![
        triggered[0],
        triggered[1],
        ("OCTOPUS_DEPLOYMENT_ID", ""),
        ("OCTOPUS_TASK_ID", ""),
        ("OCTOPUS_RUNBOOKRUN_ID", "RunbookRuns-71"),
        ("VMSS_DUPLICATE_HANDLE", "Cancel"),
    ];

    // Issue 18's reads: a Flexible set that rolls, with a standby pool (a pooled VM it lists,
    // with Application Health, and one it does not), a detached VM, and a stale target whose
    // absence is proven through the group's listing, the pools, their VMs and each VM.
    let mut pooled = World::new();
    pooled.arm_page_size = 2;
    pooled.add_scale_set("vmss-pool", "Flexible", &[(0, "Succeeded")], &[(0, 2)]);
    pooled.roll("vmss-pool", &[(0, "RollingForward"), (2, "Completed")]);
    for i in 0..2 {
        let c = pooled.add_instance("vmss-pool", i, &[(0, "Succeeded")]);
        pooled.add_target(&c, 0);
    }
    let healthy = pooled.vms[0].computer_name.clone().unwrap();
    pooled.vm_mut(&healthy).health = Some("HealthState/healthy".into());
    let detached = pooled.vms[1].computer_name.clone().unwrap();
    pooled.detach(&detached);
    // From a specialized image: listed without a computer name, so its own instance view is read.
    pooled.vm_mut(&detached).os_profile = false;
    pooled.add_pool("pool-web", "rg-web", "vmss-pool", "Deallocated");
    let listed = pooled.add_pool_vm("pool-web", 1, true);
    pooled.add_target(&listed, 0);
    let unlisted = pooled.add_pool_vm("pool-web", 2, false);
    pooled.add_target(&unlisted, 0);
    pooled.add_target("web0zzzzz", 0);
    // An account that may not list the subscription's pools: the group's are read instead.
    pooled.faults.standby_subscription_error = Some((
        403,
        "AuthorizationFailed".into(),
        "The client does not have authorization to perform action 'Microsoft.StandbyPool/standbyVirtualMachinePools/read' over scope '/subscriptions/...'.".into(),
    ));
    let pooled_env = vec![("VMSS_SCALESET_NAME", "vmss-pool")];

    // Issue 25's reads, at 2025-04-01: a Uniform set with automatic repairs (an unhealthy VM
    // past its grace period), zone balancing (a rebalance ending at the third check), resilient
    // deletes (a VM flipping between Deleting and Failed), and a protected VM.
    let mut replacing = World::new();
    replacing.arm_page_size = 2;
    replacing.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 3)]);
    for i in 0..4 {
        let c = replacing.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        replacing.add_target(&c, 0);
    }
    replacing.repairs(SCALE_SET, "PT30M", "Replace");
    replacing.zone_balance(SCALE_SET, &[(0, true), (3, false)]);
    replacing.scale_set_mut(SCALE_SET).resilient_deletes = true;
    replacing.scale_set_mut(SCALE_SET).resilient_creates = true;
    replacing.unhealthy_since(
        &stories::computer_name("web", 1),
        Duration::from_secs(45 * 60),
    );
    replacing.protect(&stories::computer_name("web", 2), true, true);
    replacing.delete_retried(&stories::computer_name("web", 3), 1, 10);
    let replacing_env = vec![];

    vec![
        (Sim::start(replacing), replacing_env),
        (Sim::start(uniform), uniform_env),
        (Sim::start(flexible), flexible_env),
        (Sim::start(pooled), pooled_env),
        (Sim::start(tenanted), tenanted_env),
        (Sim::start(runbook), runbook_env),
    ]
}

/// Asks the simulator again for what the step asked it, as the step did (same method, path
/// and query, authorised), and returns each answer's status and body.
fn ask_again(sim: &Sim, requests: &[Seen]) -> Vec<(Seen, u16, Value)> {
    let token = "wire-spec-token".to_string();
    let (api_key, arm, octopus) = {
        let mut w = sim.world();
        w.tokens
            .insert(token.clone(), Instant::now() + Duration::from_secs(3600));
        (
            w.api_key.clone(),
            sim.arm_url.clone(),
            sim.octopus_url.clone(),
        )
    };
    let octopus_root = {
        let u = url::Url::parse(&octopus).expect("the Octopus URL");
        format!("{}://{}", u.scheme(), u.authority())
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = reqwest::Client::new();
    rt.block_on(async {
        let mut answers = Vec::new();
        for seen in requests {
            let base = match seen.service {
                Service::Arm => arm.trim_end_matches('/').to_string(),
                Service::Octopus => octopus_root.clone(),
                Service::AzureAd => continue,
            };
            let mut url = format!("{base}{}", seen.path);
            if !seen.query.is_empty() {
                url = format!("{url}?{}", seen.query);
            }
            let method = reqwest::Method::from_bytes(seen.method.as_bytes()).expect("a method");
            // Each server's own sign-in: a bearer token is an Octopus access token to Octopus.
            let request = client.request(method, &url);
            let request = match seen.service {
                Service::Octopus => request.header("X-Octopus-ApiKey", &api_key),
                _ => request.bearer_auth(&token),
            };
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            answers.push((seen.clone(), status, body));
        }
        answers
    })
}

/// The description of the server a request went to (compute's at the api-version asked for).
fn spec_for<'a>(
    seen: &Seen,
    (azure, newer): (&'a Spec, &'a Spec),
    octopus: &'a Spec,
) -> Option<&'a Spec> {
    let at_newer = url::form_urlencoded::parse(seen.query.as_bytes())
        .any(|(k, v)| k == "api-version" && v == NEWER);
    match seen.service {
        Service::Arm if at_newer => Some(newer),
        Service::Arm => Some(azure),
        Service::Octopus => Some(octopus),
        // The Azure AD token endpoint is not part of the compute description.
        Service::AzureAd => None,
    }
}

#[test]
fn every_route_the_step_uses_is_described_and_answered_as_described() {
    let azure = Spec::azure();
    let newer = Spec::azure_newer();
    let mut routes_used: BTreeSet<String> = BTreeSet::new();
    let mut token_requests = 0;
    let mut problems = Vec::new();
    for (sim, env) in scenarios() {
        let run = run_step(&sim, &env);
        assert!(
            run.code == 0,
            "a scenario failed: {}\n{}\n{}",
            run.code,
            run.stdout,
            run.stderr
        );
        let prefix = url::Url::parse(&sim.octopus_url)
            .expect("the Octopus URL")
            .path()
            .trim_end_matches('/')
            .to_string();
        let octopus = Spec::octopus(&prefix);
        let seen = seen_all(&sim);
        token_requests += seen
            .iter()
            .filter(|s| s.service == Service::AzureAd)
            .count();
        for s in &seen {
            let Some(spec) = spec_for(s, (&azure, &newer), &octopus) else {
                continue;
            };
            if let Some(route) = spec.route(&s.method, &s.path) {
                routes_used.insert(format!("{} {}", s.method, route.template));
                let id = route.op["operationId"].as_str().unwrap_or_default();
                if !vmss_check::sim::rules::operations().any(|o| o == id) {
                    problems.push(format!(
                        "{id}: an operation the step calls that sim::rules::operations() does not \
                         list: read its parameters' descriptions for rules (see STATED)"
                    ));
                }
            }
            problems.extend(spec.check_request(s));
            // Nor may it break a rule the description states in words.
            let refused = match s.service {
                Service::Arm => vmss_check::sim::rules::arm(&s.path, &s.query),
                Service::Octopus => vmss_check::sim::rules::octopus(
                    s.path.strip_prefix(prefix.as_str()).unwrap_or(&s.path),
                    &s.query,
                ),
                Service::AzureAd => None,
            };
            if let Some(r) = refused {
                problems.push(format!(
                    "{} {}?{}: breaks {}: {}",
                    s.method, s.path, s.query, r.rule, r.message
                ));
            }
        }
        // Each distinct successful request, asked again: the answer must match its schema.
        let mut distinct: Vec<Seen> = Vec::new();
        for s in seen.into_iter().filter(|s| (200..300).contains(&s.status)) {
            if !distinct
                .iter()
                .any(|d| d.method == s.method && d.path == s.path && d.query == s.query)
            {
                distinct.push(s);
            }
        }
        for (s, status, body) in ask_again(&sim, &distinct) {
            let Some(spec) = spec_for(&s, (&azure, &newer), &octopus) else {
                continue;
            };
            let what = format!("{} {}?{} ({status})", s.method, s.path, s.query);
            match spec.check_answer(&s.method, &s.path, status, &body) {
                Some(found) => problems.extend(found.into_iter().map(|p| format!("{what}: {p}"))),
                None => {
                    problems.extend(events_page(spec, &s, &body, &what));
                    problems.extend(current_user(spec, &s, &body, &what));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(token_requests > 0, "no Azure AD token was asked for");
    let expected = [
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmScaleSetName}",
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/{virtualMachineScaleSetName}/virtualMachines",
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines",
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}",
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}/instanceView",
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmScaleSetName}/rollingUpgrades/latest",
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmScaleSetName}/instanceView",
        "GET /subscriptions/{subscriptionId}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools",
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools",
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools/{standbyVirtualMachinePoolName}/standbyVirtualMachines",
        "GET /api/{baseSpaceId}/machines",
        "DELETE /api/{baseSpaceId}/machines/{id}",
        "GET /api/{baseSpaceId}/environments/{id}",
        "GET /api/{baseSpaceId}/tenants/{id}",
        "GET /api/{baseSpaceId}/tasks",
        "POST /api/{baseSpaceId}/tasks/{id}/cancel",
        "GET /api/{baseSpaceId}/deployments/{id}",
        "GET /api/{baseSpaceId}/runbookRuns/{id}",
        "GET /api/{baseSpaceId}/events",
        "GET /api/users/me",
        "GET /api/{baseSpaceId}/users/{id}/permissions",
        "GET /api/{baseSpaceId}/tagsets/all",
    ];
    let missing: Vec<_> = expected
        .iter()
        .filter(|e| !routes_used.contains(**e))
        .collect();
    assert!(
        missing.is_empty(),
        "routes no scenario reached: {missing:?}\nreached: {routes_used:#?}"
    );
}

/// `GET /api/{baseSpaceId}/events` has no response schema in the 2020.5 Swagger; its page is a resource
/// collection whose items are `EventResource`s, so the items are checked against that.
fn events_page(spec: &Spec, seen: &Seen, body: &Value, what: &str) -> Vec<String> {
    if !seen.path.ends_with("/events") {
        return Vec::new();
    }
    let (file, schema) = spec.resolve("octopus-swagger-2020.5.json", "#/definitions/EventResource");
    let mut out = Vec::new();
    let items = body["Items"].as_array();
    if items.is_none() {
        out.push(format!("{what}: no Items"));
    }
    for (i, item) in items.into_iter().flatten().enumerate() {
        spec.validate(&file, schema, item, &format!("Items[{i}]"), &mut out);
    }
    out.into_iter().map(|p| format!("{what}: {p}")).collect()
}

/// `GET /api/users/me` has no response schema in the 2020.5 Swagger ("OK - Default"); OctopusClients
/// reads it as a `UserResource` (`Users.GetCurrent`), so it is checked against that.
fn current_user(spec: &Spec, seen: &Seen, body: &Value, what: &str) -> Vec<String> {
    if !seen.path.ends_with("/api/users/me") {
        return Vec::new();
    }
    let (file, schema) = spec.resolve("octopus-swagger-2020.5.json", "#/definitions/UserResource");
    let mut out = Vec::new();
    spec.validate(&file, schema, body, "UserResource", &mut out);
    if body["Id"].as_str().is_none() {
        out.push("no Id".into());
    }
    out.into_iter().map(|p| format!("{what}: {p}")).collect()
}

/// How Octopus documents signing in with an access token, which the 2020.5 Swagger lacks (its
/// security schemes are `X-Octopus-ApiKey`, an `ApiKey` query parameter and `X-NuGet-ApiKey`):
/// OctopusDeploy/docs, `src/pages/docs/octopus-rest-api/openid-connect/other-issuers.md` at
/// `4a8c73e01f436037ecc24b49a24bbcf267128d2f`, "Using the access token in API requests".
const DOCUMENTED_BEARER: &str = "Authorization: Bearer {the-access-token-obtained-from-octopus}";

#[test]
fn the_simulator_takes_access_tokens_as_octopus_documents_them() {
    let mut w = World::new();
    let live = jwt(3600, "service-account");
    let expired = jwt(-60, "service-account");
    w.access_tokens = vec![live.clone(), expired.clone()];
    let sim = Sim::start(w);
    let octopus = Spec::octopus("");
    let (name, template) = DOCUMENTED_BEARER.split_once(": ").expect("a header");
    let url = format!(
        "{}api/users/me",
        sim.octopus_url.trim_end_matches('/').to_string() + "/"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let get = |header: Option<String>| {
        rt.block_on(async {
            let mut request = reqwest::Client::new().get(&url);
            if let Some(value) = header {
                request = request.header(name, value);
            }
            let response = request.send().await.expect("an answer");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        })
    };
    let bearer =
        |token: &str| Some(template.replace("{the-access-token-obtained-from-octopus}", token));
    let (status, body) = get(bearer(&live));
    assert_eq!(status, 200, "{body}");
    let seen = Seen {
        service: Service::Octopus,
        method: "GET".into(),
        path: "/api/users/me".into(),
        query: String::new(),
        status,
    };
    assert_eq!(
        current_user(&octopus, &seen, &body, "me"),
        Vec::<String>::new()
    );
    // Expired, never issued, or none: the 401 every Octopus error has the shape of
    // (`ErrorMessage`, which OctopusClients' OctopusExceptionFactory reads).
    for header in [
        bearer(&expired),
        bearer("eyJhbGciOiJub25lIn0.e30.c2ln"),
        None,
    ] {
        let (status, body) = get(header);
        assert_eq!(status, 401, "{body}");
        assert!(
            body["ErrorMessage"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let w = sim.world();
    assert!(w.sign_ins.iter().take(2).all(|s| s.bearer && !s.api_key));
}

// ---------------------------------------------------------------------------------------------
// The checker itself: it must be able to say no.

fn arm_seen(path: &str, query: &str) -> Seen {
    Seen {
        service: Service::Arm,
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        status: 200,
    }
}

const VM_LIST: &str =
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines";
const SET_VMS: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines";

#[test]
fn the_checker_rejects_parameters_the_description_does_not_have() {
    let azure = Spec::azure();
    assert!(azure
        .check_request(&arm_seen(
            SET_VMS,
            "api-version=2024-07-01&%24expand=instanceView"
        ))
        .is_empty());
    let wrong = azure.check_request(&arm_seen(SET_VMS, "api-version=2024-07-01&%24top=5"));
    assert!(wrong.iter().any(|p| p.contains("`$top`")), "{wrong:?}");
    let missing = azure.check_request(&arm_seen(VM_LIST, "%24expand=instanceView"));
    assert!(
        missing.iter().any(|p| p.contains("`api-version`")),
        "{missing:?}"
    );
    let nowhere = azure.check_request(&arm_seen("/subscriptions/s/nothing", ""));
    assert!(!nowhere.is_empty());

    let octopus = Spec::octopus("");
    let machines = |q: &str| Seen {
        service: Service::Octopus,
        method: "GET".into(),
        path: "/api/Spaces-1/machines".into(),
        query: q.into(),
        status: 200,
    };
    assert!(octopus
        .check_request(&machines(
            "environmentIds=Environments-1&roles=web&skip=0&take=500"
        ))
        .is_empty());
    let wrong = octopus.check_request(&machines("environmentId=Environments-1"));
    assert!(
        wrong.iter().any(|p| p.contains("`environmentId`")),
        "{wrong:?}"
    );
}

#[test]
fn the_checker_rejects_answers_the_description_does_not_allow() {
    let azure = Spec::azure();
    let good = json!({"value": [{
        "name": "web_0", "id": "/x", "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "location": "westeurope", "instanceId": "0",
        "properties": {"provisioningState": "Succeeded", "osProfile": {"computerName": "web000000"},
            "timeCreated": "2026-11-23T09:58:00.0000000+00:00",
            "instanceView": {"statuses": [{"code": "PowerState/running", "level": "Info"}]}}
    }]});
    let check = |body: &Value| {
        azure
            .check_answer("GET", SET_VMS, 200, body)
            .expect("the instance list has a schema")
    };
    assert_eq!(check(&good), Vec::<String>::new());
    let mut typed = good.clone();
    typed["value"][0]["properties"]["provisioningState"] = json!(5);
    assert!(check(&typed)
        .iter()
        .any(|p| p.contains("provisioningState")));
    let mut invented = good.clone();
    invented["value"][0]["properties"]["computerName"] = json!("web000000");
    assert!(check(&invented)
        .iter()
        .any(|p| p.contains("not in the description")));
    let mut level = good.clone();
    level["value"][0]["properties"]["instanceView"]["statuses"][0]["level"] = json!("Fatal");
    assert!(check(&level).iter().any(|p| p.contains("Fatal")));
    let mut when = good.clone();
    when["value"][0]["properties"]["timeCreated"] = json!("yesterday");
    assert!(check(&when).iter().any(|p| p.contains("date-time")));
    let no_value = json!({"nextLink": "x"});
    assert!(check(&no_value).iter().any(|p| p.contains("`value`")));

    let octopus = Spec::octopus("");
    let page = json!({"Items": [{"Id": "Machines-1", "Name": "web", "Endpoint": {"CommunicationStyle": "TentaclePassive", "Uri": "https://web:10933/"}}], "TotalResults": 1});
    let found = octopus
        .check_answer("GET", "/api/Spaces-1/machines", 200, &page)
        .expect("the target list has a schema");
    assert_eq!(found, Vec::<String>::new());
    let mut wrong = page.clone();
    wrong["TotalResults"] = json!("one");
    let found = octopus
        .check_answer("GET", "/api/Spaces-1/machines", 200, &wrong)
        .expect("a schema");
    assert!(
        found.iter().any(|p| p.contains("TotalResults")),
        "{found:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// What the check found, and the issue's own points, held in place.

/// A GET straight to the simulated Resource Manager.
fn arm_get(sim: &Sim, path_and_query: &str) -> (u16, Value) {
    let seen = Seen {
        service: Service::Arm,
        method: "GET".into(),
        path: path_and_query.split('?').next().unwrap_or("").into(),
        query: path_and_query
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .into(),
        status: 0,
    };
    let (_, status, body) = ask_again(sim, &[seen]).remove(0);
    (status, body)
}

fn group_path(sim: &Sim) -> String {
    let w = sim.world();
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute",
        w.subscription_id, w.resource_group
    )
}

#[test]
fn the_vm_list_with_expand_and_no_filter_is_answered_as_azure_does() {
    let mut w = World::new();
    w.add_scale_set("vmss-flex", "Flexible", &[(0, "Succeeded")], &[(0, 1)]);
    w.add_instance("vmss-flex", 0, &[(0, "Succeeded")]);
    w.add_plain_vm("jumpbox", "jumpbox", &[(0, "Succeeded")]);
    let sim = Sim::start(w);
    let list = format!(
        "{}/virtualMachines?api-version=2024-07-01",
        group_path(&sim)
    );
    // Refused, in real Azure's words (issue 23; wire.md).
    let (status, body) = arm_get(&sim, &format!("{list}&%24expand=instanceView"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Expand Instance View is only supported when Virtual Machine Scale Set resource filter is applied"
    );
    // The plain listing: every VM of the group, the set's and the others, each with what the
    // proof of absence needs (its provisioning state and computer name).
    let (status, body) = arm_get(&sim, &list);
    assert_eq!(status, 200, "{body}");
    let vms = body["value"].as_array().expect("a list");
    assert_eq!(vms.len(), 2, "every VM of the group: {body}");
    for vm in vms {
        assert!(vm["properties"]["provisioningState"].is_string(), "{vm}");
        assert!(
            vm["properties"]["osProfile"]["computerName"].is_string(),
            "{vm}"
        );
        assert!(vm["properties"].get("instanceView").is_none(), "{vm}");
    }
    let bare = list.split('?').next().unwrap_or_default();
    let found = Spec::azure()
        .check_answer("GET", bare, 200, &body)
        .expect("a schema");
    assert_eq!(found, Vec::<String>::new());
    // With the set's filter, `$expand` is allowed: the set's VMs, with their instance views.
    let flex_id = sim.world().scale_set_id("rg-web", "vmss-flex");
    let filter: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "$filter",
            &format!("'virtualMachineScaleSet/id' eq '{flex_id}'"),
        )
        .append_pair("$expand", "instanceView")
        .finish();
    let (status, body) = arm_get(&sim, &format!("{list}&{filter}"));
    assert_eq!(status, 200, "{body}");
    let vms = body["value"].as_array().expect("a list");
    assert_eq!(vms.len(), 1, "the set's VM only: {body}");
    assert!(vms[0]["properties"]["instanceView"].is_object());
}

#[test]
fn uniform_computer_names_are_upper_case_and_flexible_ones_random() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 12)]);
    let target = w.add_instance(SCALE_SET, 11, &[(0, "Succeeded")]);
    w.add_scale_set("vmss-flex", "Flexible", &[(0, "Succeeded")], &[(0, 1)]);
    let flex = w.add_instance("vmss-flex", 0, &[(0, "Succeeded")]);
    let sim = Sim::start(w);
    let q = "api-version=2024-07-01&%24expand=instanceView";
    let (_, body) = arm_get(
        &sim,
        &format!(
            "{}/virtualMachineScaleSets/{SCALE_SET}/virtualMachines?{q}",
            group_path(&sim)
        ),
    );
    let vm = &body["value"][0]["properties"];
    assert_eq!(vm["osProfile"]["computerName"], "web00000B");
    assert_eq!(vm["instanceView"]["computerName"], "web00000B");
    assert_eq!(target, "web00000b", "the Tentacle registers in lower case");
    let (_, body) = arm_get(
        &sim,
        &format!(
            "{}/virtualMachines?api-version=2024-07-01",
            group_path(&sim)
        ),
    );
    let name = body["value"][0]["properties"]["osProfile"]["computerName"]
        .as_str()
        .expect("a computer name");
    assert_eq!(name, flex);
    assert!(name.starts_with("web") && name.len() == 9, "{name}");
    assert_ne!(name, "web000000");
}

#[test]
fn azure_s_own_examples_pass_the_checker() {
    // The checker is neither blind nor stricter than Azure: the examples published beside the
    // description (tests/fixtures/arm) match it.
    let azure = Spec::azure();
    let examples = [
        ("VirtualMachineScaleSetVM_List_MaximumSet_Gen.json", SET_VMS),
        ("VirtualMachineScaleSetVM_List_MinimumSet_Gen.json", SET_VMS),
        ("VirtualMachine_List_MaximumSet_Gen.json", VM_LIST),
        ("VirtualMachine_List_MinimumSet_Gen.json", VM_LIST),
        (
            "VirtualMachineScaleSet_Get_WithUserData.json",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web",
        ),
    ];
    for (file, path) in examples {
        let example = read(&format!("../arm/{file}"));
        let body = &example["responses"]["200"]["body"];
        let found = azure
            .check_answer("GET", path, 200, body)
            .expect("a schema");
        assert_eq!(found, Vec::<String>::new(), "{file}");
    }
}

#[test]
fn what_the_newer_api_version_adds_is_described_only_in_its_additions() {
    // The fields the step reads at 2025-04-01 fail 2024-07-01's description and pass the
    // additions laid over it: the overlay is what lets them through, nothing looser.
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 1)]);
    w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    w.repairs(SCALE_SET, "PT10M", "Replace");
    w.zone_balance(SCALE_SET, &[(0, true)]);
    w.scale_set_mut(SCALE_SET).resilient_deletes = true;
    let sim = Sim::start(w);
    let set = format!("{}/virtualMachineScaleSets/{SCALE_SET}", group_path(&sim));
    let (old, newer) = (Spec::azure(), Spec::azure_newer());
    let cases = [
        (set.clone(), "automaticZoneRebalancingPolicy"),
        (format!("{set}/instanceView"), "latestOperationStatus"),
        (
            format!("{set}/virtualMachines"),
            "resilientVMDeletionStatus",
        ),
    ];
    for (path, field) in cases {
        let (status, body) = arm_get(&sim, &format!("{path}?api-version={NEWER}"));
        assert_eq!(status, 200, "{body}");
        assert!(
            body.to_string().contains(field),
            "{field} not answered: {body}"
        );
        let against = |spec: &Spec| {
            spec.check_answer("GET", &path, 200, &body)
                .expect("a schema")
        };
        assert_eq!(against(&newer), Vec::<String>::new(), "{path}");
        let problems = against(&old);
        assert!(
            problems.iter().any(|p| p.contains(field)),
            "2024-07-01 let {field} through: {problems:?}"
        );
        // At 2024-07-01 the simulator leaves out what that description lacks.
        let (_, body) = arm_get(&sim, &format!("{path}?api-version=2024-07-01"));
        assert!(
            !body.to_string().contains(field),
            "{field} at 2024-07-01: {body}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// What the descriptions say in words: the rules a schema does not hold, and the simulator's
// refusal of each (`src/sim/rules.rs`).

/// A rule a description states about a parameter of an operation the step calls, where it is
/// stated, and a request that breaks it.
struct Stated {
    /// The simulator's id for it (`vmss_check::sim::rules::RULES`).
    rule: &'static str,
    /// The vendored description whose `paths` hold the operation.
    file: &'static str,
    /// The operation's `operationId`.
    operation: &'static str,
    /// The parameter's name.
    parameter: &'static str,
    /// Words of the parameter's description that state the rule.
    words: &'static str,
    /// What else the parameter's definition says (a JSON object whose members it must have),
    /// or "" when the words are all.
    facts: &'static str,
    /// A request that breaks the rule (`{sub}`, `{rg}`, `{space}`, `{set}`, `{flex}`, `{vm}`,
    /// `{pool}` and `{flex_id}` stand for the world's), and the same request with the breach
    /// mended, which the simulator answers.
    breach: &'static str,
    mended: &'static str,
    /// The error code Azure answers the breach with (empty for Octopus).
    code: &'static str,
}

const GROUP: &str = "/subscriptions/{sub}/resourceGroups/{rg}/providers";
const FLEX_FILTER: &str = "%24filter=%27virtualMachineScaleSet%2Fid%27%20eq%20%27{flex_id}%27";

/// Every rule the vendored descriptions state in words about the parameters of the operations
/// the step calls (`GET` scale set, its VMs, the group's VMs, a VM, the latest rolling upgrade;
/// the subscription's and a group's standby pools, a pool's VMs; Octopus's machines, tasks and
/// events listings). The other parameters of those operations are names and ids; Octopus's
/// 2020.5 Swagger says nothing of its parameters but their types.
const STATED: &[Stated] = &[
    Stated {
        rule: "arm-subscription-id-is-a-uuid",
        file: "standbypool.json",
        operation: "StandbyVirtualMachinePools_ListBySubscription",
        parameter: "subscriptionId",
        words: "The value must be an UUID.",
        facts: r#"{"format": "uuid"}"#,
        breach: "/subscriptions/prod/providers/Microsoft.StandbyPool/standbyVirtualMachinePools?api-version=2025-03-01",
        mended: "/subscriptions/{sub}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools?api-version=2025-03-01",
        code: "InvalidSubscriptionId",
    },
    Stated {
        rule: "compute-api-version-required",
        file: "virtualMachineScaleSet.json",
        operation: "VirtualMachineScaleSets_Get",
        parameter: "api-version",
        words: "Client Api Version.",
        facts: r#"{"required": true}"#,
        breach: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}",
        mended: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}?api-version=2024-07-01",
        code: "MissingApiVersionParameter",
    },
    Stated {
        rule: "compute-api-version-is-the-description-s",
        file: "virtualMachine.json",
        operation: "VirtualMachines_Get",
        parameter: "api-version",
        words: "Client Api Version.",
        facts: r#"{"required": true}"#,
        breach: "{GROUP}/Microsoft.Compute/virtualMachines/{vm}?api-version=2024-7-1",
        mended: "{GROUP}/Microsoft.Compute/virtualMachines/{vm}?api-version=2024-07-01",
        code: "InvalidApiVersionParameter",
    },
    Stated {
        rule: "standby-api-version-required",
        file: "standbypool.json",
        operation: "StandbyVirtualMachinePools_ListByResourceGroup",
        parameter: "api-version",
        words: "The API version to use for this operation.",
        facts: r#"{"required": true, "minLength": 1}"#,
        breach: "{GROUP}/Microsoft.StandbyPool/standbyVirtualMachinePools?api-version=",
        mended: "{GROUP}/Microsoft.StandbyPool/standbyVirtualMachinePools?api-version=2025-03-01",
        code: "MissingApiVersionParameter",
    },
    Stated {
        rule: "standby-api-version-is-the-description-s",
        file: "standbypool.json",
        operation: "StandbyVirtualMachines_ListByStandbyVirtualMachinePoolResource",
        parameter: "api-version",
        words: "The API version to use for this operation.",
        facts: r#"{"required": true}"#,
        breach: "{GROUP}/Microsoft.StandbyPool/standbyVirtualMachinePools/{pool}/standbyVirtualMachines?api-version=2024-07-01",
        mended: "{GROUP}/Microsoft.StandbyPool/standbyVirtualMachinePools/{pool}/standbyVirtualMachines?api-version=2025-03-01",
        code: "NoRegisteredProviderFound",
    },
    Stated {
        rule: "vm-list-filter-names-a-scale-set",
        file: "virtualMachine.json",
        operation: "VirtualMachines_List",
        parameter: "$filter",
        words: "Allowed value is 'virtualMachineScaleSet/id' eq /subscriptions/{subId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmssName}'",
        facts: "",
        breach: "{GROUP}/Microsoft.Compute/virtualMachines?api-version=2024-07-01&%24filter=name%20eq%20%27{vm}%27",
        mended: "{GROUP}/Microsoft.Compute/virtualMachines?api-version=2024-07-01&{FLEX_FILTER}",
        code: "InvalidParameter",
    },
    Stated {
        rule: "vm-list-expand-is-instance-view",
        file: "virtualMachine.json",
        operation: "VirtualMachines_List",
        parameter: "$expand",
        words: "'instanceView' enables fetching run time status of all Virtual Machines",
        facts: r#"{"enum": ["instanceView"]}"#,
        breach: "{GROUP}/Microsoft.Compute/virtualMachines?api-version=2024-07-01&{FLEX_FILTER}&%24expand=userData",
        mended: "{GROUP}/Microsoft.Compute/virtualMachines?api-version=2024-07-01&{FLEX_FILTER}&%24expand=instanceView",
        code: "InvalidParameter",
    },
    Stated {
        rule: "vm-list-expand-needs-filter",
        file: "virtualMachine.json",
        operation: "VirtualMachines_List",
        parameter: "$expand",
        words: "this can only be specified if a valid $filter option is specified",
        facts: "",
        breach: "{GROUP}/Microsoft.Compute/virtualMachines?api-version=2024-07-01&%24expand=instanceView",
        mended: "{GROUP}/Microsoft.Compute/virtualMachines?api-version=2024-07-01",
        code: "BadRequest",
    },
    Stated {
        rule: "set-vms-filter-allowed-values",
        file: "virtualMachineScaleSet.json",
        operation: "VirtualMachineScaleSetVMs_List",
        parameter: "$filter",
        words: "Allowed values are 'startswith(instanceView/statuses/code, 'PowerState') eq true', 'properties/latestModelApplied eq true', 'properties/latestModelApplied eq false'.",
        facts: "",
        breach: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}/virtualMachines?api-version=2024-07-01&%24filter=properties%2FprovisioningState%20eq%20%27Succeeded%27",
        mended: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}/virtualMachines?api-version=2024-07-01&%24filter=properties%2FlatestModelApplied%20eq%20true",
        code: "InvalidParameter",
    },
    Stated {
        rule: "set-vms-select-allowed-values",
        file: "virtualMachineScaleSet.json",
        operation: "VirtualMachineScaleSetVMs_List",
        parameter: "$select",
        words: "Allowed values are 'instanceView', 'instanceView/statuses'.",
        facts: "",
        breach: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}/virtualMachines?api-version=2024-07-01&%24select=osProfile",
        mended: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}/virtualMachines?api-version=2024-07-01&%24select=instanceView%2Fstatuses",
        code: "InvalidParameter",
    },
    Stated {
        rule: "set-vms-expand-allowed-values",
        file: "virtualMachineScaleSet.json",
        operation: "VirtualMachineScaleSetVMs_List",
        parameter: "$expand",
        words: "Allowed values are 'instanceView'.",
        facts: "",
        breach: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}/virtualMachines?api-version=2024-07-01&%24expand=userData",
        mended: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}/virtualMachines?api-version=2024-07-01&%24expand=instanceView",
        code: "InvalidParameter",
    },
    Stated {
        rule: "vm-get-expand-values",
        file: "virtualMachine.json",
        operation: "VirtualMachines_Get",
        parameter: "$expand",
        words: "'UserData' retrieves the UserData property as part of the VM model view",
        facts: r#"{"enum": ["instanceView", "userData"], "x-ms-enum": {"name": "InstanceViewTypes", "modelAsString": false}}"#,
        breach: "{GROUP}/Microsoft.Compute/virtualMachines/{vm}?api-version=2024-07-01&%24expand=osProfile",
        mended: "{GROUP}/Microsoft.Compute/virtualMachines/{vm}?api-version=2024-07-01&%24expand=userData",
        code: "InvalidParameter",
    },
    Stated {
        rule: "set-get-expand-values",
        file: "virtualMachineScaleSet.json",
        operation: "VirtualMachineScaleSets_Get",
        parameter: "$expand",
        words: "'UserData' retrieves the UserData property of the VM scale set",
        facts: r#"{"enum": ["userData"]}"#,
        breach: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}?api-version=2024-07-01&%24expand=instanceView",
        mended: "{GROUP}/Microsoft.Compute/virtualMachineScaleSets/{set}?api-version=2024-07-01&%24expand=userData",
        code: "InvalidParameter",
    },
    Stated {
        rule: "octopus-skip-is-an-int32",
        file: "octopus-swagger-2020.5.json",
        operation: "indexDeploymentTargets_Spaces",
        parameter: "skip",
        words: "Number of items to skip",
        facts: r#"{"type": "integer", "format": "int32"}"#,
        breach: "/api/{space}/machines?skip=first&take=30",
        mended: "/api/{space}/machines?skip=0&take=30",
        code: "",
    },
    Stated {
        rule: "octopus-take-is-an-int32",
        file: "octopus-swagger-2020.5.json",
        operation: "indexDeploymentTargets_Spaces",
        parameter: "take",
        words: "Number of items to take",
        facts: r#"{"type": "integer", "format": "int32"}"#,
        breach: "/api/{space}/machines?skip=0&take=2147483648",
        mended: "/api/{space}/machines?skip=0&take=2147483647",
        code: "",
    },
];

/// What the descriptions constrain about parameters of the step's operations that the
/// simulator does not hold, and why: (file, parameter, why).
const NOT_HELD: &[(&str, &str, &str)] = &[
    (
        "standbypool.json",
        "resourceGroupName",
        "a pattern and 1 to 90 characters, and \"The name is case insensitive.\": the step names \
         only groups of the user's settings or of ids Azure wrote, and the simulator matches \
         group names ignoring case; what Azure answers a malformed name in a read is not recorded",
    ),
    (
        "standbypool.json",
        "standbyVirtualMachinePoolName",
        "a pattern: the step reads only pools whose ids Azure listed",
    ),
];

/// What a parameter's definition constrains beyond its name and place, in words or in schema:
/// a closed list, a pattern, lengths, bounds, a format, a required query parameter, or a
/// description that says what is allowed, what it must be or when it may be given.
fn constraints(param: &Value) -> Vec<String> {
    let mut found: Vec<String> = [
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "format",
    ]
    .iter()
    .filter(|k| param.get(**k).is_some())
    .map(|k| format!("{k} {}", param[*k]))
    .collect();
    if param["in"] == "query" && param["required"] == true {
        found.push("required".into());
    }
    let description = param["description"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    for phrase in [
        "allowed",
        "only",
        "must",
        "case insensitive",
        "at most",
        "at least",
        "maximum",
        "minimum",
    ] {
        if description.contains(phrase) {
            found.push(format!("the words {phrase:?}"));
        }
    }
    found
}

#[test]
fn every_constraint_on_the_step_s_operations_is_held_or_said_why_not() {
    use vmss_check::sim::rules;
    let azure = Spec::azure();
    let octopus = Spec::octopus("");
    let mut problems = Vec::new();
    for id in rules::operations() {
        let found = [&azure, &octopus]
            .into_iter()
            .flat_map(|spec| spec.route_files.iter().map(move |f| (spec, f)))
            .find_map(|(spec, file)| Some((spec, file, operation(&spec.docs[file], id)?.1)));
        let Some((spec, file, op)) = found else {
            problems.push(format!("{id}: no vendored description has it"));
            continue;
        };
        for p in op["parameters"].as_array().into_iter().flatten() {
            let param = match p.get("$ref").and_then(Value::as_str) {
                Some(r) => spec.resolve(file, r).1,
                None => p,
            };
            let name = param["name"].as_str().unwrap_or_default();
            let what = constraints(param);
            if what.is_empty() {
                continue;
            }
            let held = rules::RULES
                .iter()
                .any(|r| r.parameter == name && r.operations.contains(&id));
            let excused = NOT_HELD.iter().any(|(f, n, _)| f == file && *n == name);
            if !held && !excused {
                problems.push(format!(
                    "{id} `{name}` ({file}) is constrained ({}), and no rule holds it and NOT_HELD \
                     does not say why: {:?}",
                    what.join(", "),
                    param["description"]
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// An operation of a description by its `operationId`: its path template and definition.
fn operation<'a>(doc: &'a Value, id: &str) -> Option<(&'a str, &'a Value)> {
    doc["paths"].as_object()?.iter().find_map(|(path, ops)| {
        ops.as_object()?
            .values()
            .find(|op| op["operationId"] == id)
            .map(|op| (path.as_str(), op))
    })
}

#[test]
fn every_rule_the_simulator_holds_is_stated_in_the_vendored_description() {
    use vmss_check::sim::rules;
    let azure = Spec::azure();
    let octopus = Spec::octopus("");
    // The simulator's rules and this list name the same rules, once each.
    let held: BTreeSet<&str> = rules::RULES.iter().map(|r| r.id).collect();
    let listed: BTreeSet<&str> = STATED.iter().map(|s| s.rule).collect();
    assert_eq!(held, listed, "the simulator's rules and STATED differ");
    assert_eq!(listed.len(), STATED.len(), "a rule is listed twice");
    assert_eq!(held.len(), rules::RULES.len(), "a rule is held twice");
    let mut problems = Vec::new();
    for s in STATED {
        let spec = if s.file.starts_with("octopus") {
            &octopus
        } else {
            &azure
        };
        let rule = rules::RULES.iter().find(|r| r.id == s.rule).expect("held");
        if rule.parameter != s.parameter || !rule.operations.contains(&s.operation) {
            problems.push(format!(
                "{}: the simulator holds it for {} of {:?}",
                s.rule, rule.parameter, rule.operations
            ));
        }
        let Some((_, op)) = operation(&spec.docs[s.file], s.operation) else {
            problems.push(format!("{}: {} has no {}", s.rule, s.file, s.operation));
            continue;
        };
        let param = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match p.get("$ref").and_then(Value::as_str) {
                Some(r) => spec.resolve(s.file, r).1,
                None => p,
            })
            .find(|p| p["name"] == s.parameter);
        let Some(param) = param else {
            problems.push(format!(
                "{}: {} has no `{}`",
                s.rule, s.operation, s.parameter
            ));
            continue;
        };
        let description = param["description"].as_str().unwrap_or_default();
        if !description.contains(s.words) {
            problems.push(format!(
                "{}: the description of `{}` of {} no longer says {:?}; it says {description:?}",
                s.rule, s.parameter, s.operation, s.words
            ));
        }
        if !s.facts.is_empty() {
            let facts: Value = serde_json::from_str(s.facts).expect("facts are JSON");
            for (k, v) in facts.as_object().expect("facts are an object") {
                if &param[k] != v {
                    problems.push(format!(
                        "{}: `{}` of {} has {k} = {}, not {v}",
                        s.rule, s.parameter, s.operation, param[k]
                    ));
                }
            }
        }
    }
    // The one api-version each simulated provider accepts is its description's.
    for (file, version) in [
        ("virtualMachineScaleSet.json", rules::COMPUTE_API_VERSION),
        ("virtualMachine.json", rules::COMPUTE_API_VERSION),
        ("standbypool.json", rules::STANDBY_API_VERSION),
    ] {
        if azure.docs[file]["info"]["version"] != version {
            problems.push(format!("{file} is not version {version}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A world with one of each thing the breaches name: a Uniform set, a Flexible set with a VM
/// and a standby pool, a plain VM, and a target.
fn rules_world() -> (Sim, HashMap<&'static str, String>) {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 1)]);
    let c = w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    w.add_target(&c, 0);
    w.add_scale_set("vmss-flex", "Flexible", &[(0, "Succeeded")], &[(0, 1)]);
    w.add_instance("vmss-flex", 0, &[(0, "Succeeded")]);
    w.add_pool("pool-web", "rg-web", "vmss-flex", "Deallocated");
    w.add_pool_vm("pool-web", 1, false);
    w.add_plain_vm("jumpbox", "jumpbox", &[(0, "Succeeded")]);
    let sim = Sim::start(w);
    let names = {
        let w = sim.world();
        HashMap::from([
            ("{sub}", w.subscription_id.clone()),
            ("{rg}", w.resource_group.clone()),
            ("{space}", w.space_id.clone()),
            ("{set}", SCALE_SET.to_string()),
            ("{flex}", "vmss-flex".to_string()),
            ("{flex_id}", w.scale_set_id(&w.resource_group, "vmss-flex")),
            ("{vm}", "jumpbox".to_string()),
            ("{pool}", "pool-web".to_string()),
        ])
    };
    (sim, names)
}

/// A request of the table with the world's names in it.
fn fill(template: &str, names: &HashMap<&'static str, String>) -> String {
    let mut out = template
        .replace("{GROUP}", GROUP)
        .replace("{FLEX_FILTER}", FLEX_FILTER);
    for (k, v) in names {
        out = out.replace(k, v);
    }
    out
}

/// A request straight to the simulated server of `service`, as the step sends it.
fn ask(sim: &Sim, service: Service, path_and_query: &str) -> (u16, Value) {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let seen = Seen {
        service,
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        status: 0,
    };
    let (_, status, body) = ask_again(sim, &[seen]).remove(0);
    (status, body)
}

#[test]
fn the_simulator_refuses_each_stated_breach_as_the_service_does() {
    let azure = Spec::azure();
    let (sim, names) = rules_world();
    let mut problems = Vec::new();
    for s in STATED {
        let octopus = s.file.starts_with("octopus");
        let service = if octopus {
            Service::Octopus
        } else {
            Service::Arm
        };
        let breach = fill(s.breach, &names);
        let (status, body) = ask(&sim, service, &breach);
        let what = format!("{} ({breach})", s.rule);
        if status != 400 {
            problems.push(format!("{what}: answered {status}, not 400: {body}"));
            continue;
        }
        if octopus {
            // Octopus: `{"ErrorMessage": "...", "Errors": ["..."]}`.
            let message = body["ErrorMessage"].as_str().unwrap_or_default();
            let errors = body["Errors"].as_array().cloned().unwrap_or_default();
            if message.is_empty()
                || errors.is_empty()
                || !errors
                    .iter()
                    .all(|e| e.as_str().is_some_and(|e| !e.is_empty()))
            {
                problems.push(format!("{what}: not Octopus's error body: {body}"));
            }
        } else {
            // Resource Manager: the error body of the operation's description, with the code.
            let path = breach.split('?').next().unwrap_or_default();
            let route = azure.route("GET", path).expect("a described route");
            match azure.response_schema(&route, 400).or_else(|| {
                route.op["responses"]
                    .get("default")
                    .and_then(|r| r.get("schema"))
            }) {
                Some(schema) => {
                    let mut found = Vec::new();
                    azure.validate(&route.file, schema, &body, "error body", &mut found);
                    problems.extend(found.into_iter().map(|p| format!("{what}: {p}")));
                }
                None => problems.push(format!("{what}: the operation describes no error")),
            }
            if body["error"]["code"] != s.code {
                problems.push(format!(
                    "{what}: code {}, not {}",
                    body["error"]["code"], s.code
                ));
            }
            if body["error"]["message"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{what}: no message: {body}"));
            }
        }
        // The same request without the breach is answered: the rule, not something else,
        // refused it.
        let mended = fill(s.mended, &names);
        let (status, body) = ask(&sim, service, &mended);
        if status != 200 {
            problems.push(format!(
                "{} ({mended}): the mended request answered {status}: {body}",
                s.rule
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
