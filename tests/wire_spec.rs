//! The simulator held to the published descriptions of the services it stands in for: Azure's
//! REST specification for Microsoft.Compute 2024-07-01 and Microsoft.StandbyPool 2025-03-01, and
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

    vec![
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

/// The description of the server a request went to.
fn spec_for<'a>(seen: &Seen, azure: &'a Spec, octopus: &'a Spec) -> Option<&'a Spec> {
    match seen.service {
        Service::Arm => Some(azure),
        Service::Octopus => Some(octopus),
        // The Azure AD token endpoint is not part of the compute description.
        Service::AzureAd => None,
    }
}

#[test]
fn every_route_the_step_uses_is_described_and_answered_as_described() {
    let azure = Spec::azure();
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
            let Some(spec) = spec_for(s, &azure, &octopus) else {
                continue;
            };
            if let Some(route) = spec.route(&s.method, &s.path) {
                routes_used.insert(format!("{} {}", s.method, route.template));
            }
            problems.extend(spec.check_request(s));
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
            let Some(spec) = spec_for(&s, &azure, &octopus) else {
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
        "GET /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmScaleSetName}/rollingUpgrades/latest",
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
    let path = format!(
        "{}/virtualMachines?api-version=2024-07-01&%24expand=instanceView",
        group_path(&sim)
    );
    let (status, body) = arm_get(&sim, &path);
    assert_eq!(status, 200, "{body}");
    let vms = body["value"].as_array().expect("a list");
    assert_eq!(
        vms.len(),
        2,
        "every VM of the group, the set's and the others"
    );
    assert!(vms
        .iter()
        .all(|v| v["properties"]["instanceView"].is_object()));
    let bare = path.split('?').next().unwrap_or_default();
    let found = Spec::azure()
        .check_answer("GET", bare, 200, &body)
        .expect("a schema");
    assert_eq!(found, Vec::<String>::new());
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
    let (_, body) = arm_get(&sim, &format!("{}/virtualMachines?{q}", group_path(&sim)));
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
