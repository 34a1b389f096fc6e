//! A simulated Azure AD, Azure Resource Manager and Octopus Server, each a real HTTP server on
//! loopback (axum), speaking the wire shapes in `shared/reference/wire.md`. `vmss-check demo`
//! plays a story on it; the integration tests run the built binary against it and then ask it
//! what happened (which targets were deleted, which requests were sent).

mod arm;
pub mod calamari;
pub mod ids;
mod octopus;
pub mod rules;
pub mod stories;
pub mod world;

pub use world::{
    Faults, LinkStyle, Paging, ReadBudget, Service, SignIn, SimEvent, SimFailure, SimMachine,
    SimPool, SimProfile, SimScaleSet, SimTagSet, SimTask, SimTeam, SimTenant, SimVm, World, NOW,
};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::{Arc, Mutex, MutexGuard};

/// The shared world behind the three servers.
pub type Shared = Arc<Mutex<World>>;

/// A running simulation. Dropping it stops the servers.
pub struct Sim {
    world: Shared,
    /// Azure AD's base URL (the authority host).
    pub azure_ad_url: String,
    /// Resource Manager's base URL.
    pub arm_url: String,
    /// The Octopus Server's URL, with its path prefix.
    pub octopus_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a handler receives.
pub struct Incoming {
    /// Method.
    pub method: Method,
    /// URI (path and query).
    pub uri: Uri,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

type Handler = fn(&mut World, &str, &Incoming) -> Response;

fn router(world: Shared, base: String, service: Service, handler: Handler) -> Router {
    Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let world = world.clone();
            let base = base.clone();
            async move {
                let incoming = Incoming {
                    method,
                    uri,
                    headers,
                    body,
                };
                let hangs = {
                    let w = world.lock().unwrap_or_else(|e| e.into_inner());
                    let answered = w.seen.iter().filter(|s| s.service == service).count();
                    w.faults
                        .hang
                        .iter()
                        .any(|(svc, after)| *svc == service && answered >= *after)
                };
                if hangs {
                    // Like a server that accepts and never answers: only the client's
                    // timeout ends this request.
                    std::future::pending::<()>().await;
                }
                slow_delete(&world, &incoming.method).await;
                let delay = {
                    let w = world.lock().unwrap_or_else(|e| e.into_inner());
                    w.faults
                        .octopus_delay
                        .filter(|_| service == Service::Octopus)
                };
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                let (response, bom) = {
                    let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
                    let response = handler(&mut w, &base, &incoming);
                    w.seen.push(world::Seen {
                        service,
                        method: incoming.method.to_string(),
                        path: incoming.uri.path().to_string(),
                        query: incoming.uri.query().unwrap_or("").to_string(),
                        status: response.status().as_u16(),
                    });
                    (response, w.faults.byte_order_marks)
                };
                if bom {
                    with_bom(response).await
                } else {
                    response
                }
            }
        },
    )
}

/// Holds a DELETE for `faults.delete_delay`, counting how many are held at once.
async fn slow_delete(world: &Shared, method: &Method) {
    let lock = || world.lock().unwrap_or_else(|e| e.into_inner());
    let delay = match lock().faults.delete_delay {
        Some(d) if method == Method::DELETE => d,
        _ => return,
    };
    {
        let mut w = lock();
        w.deletes_in_flight.0 += 1;
        w.deletes_in_flight.1 = w.deletes_in_flight.1.max(w.deletes_in_flight.0);
    }
    tokio::time::sleep(delay).await;
    lock().deletes_in_flight.0 -= 1;
}

impl Sim {
    /// Starts the three servers on loopback ports chosen by the OS, in a thread of their own
    /// (so a blocking test, or a child process, can talk to them).
    pub fn start(world: World) -> Sim {
        let bind = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            l.set_nonblocking(true).expect("non-blocking listener");
            l
        };
        let (ad, arm_l, octo) = (bind(), bind(), bind());
        let url = |l: &std::net::TcpListener| format!("http://{}", l.local_addr().expect("bound"));
        let azure_ad_url = format!("{}/", url(&ad));
        let arm_url = format!("{}/", url(&arm_l));
        let octopus_url = format!("{}{}", url(&octo), world.octopus_prefix);
        let mut world = world;
        world.started = std::time::Instant::now();
        let shared: Shared = Arc::new(Mutex::new(world));
        let routers = [
            (
                ad,
                router(
                    shared.clone(),
                    azure_ad_url.clone(),
                    Service::AzureAd,
                    arm::azure_ad as Handler,
                ),
            ),
            (
                arm_l,
                router(
                    shared.clone(),
                    arm_url.clone(),
                    Service::Arm,
                    arm::resource_manager as Handler,
                ),
            ),
            (
                octo,
                router(
                    shared.clone(),
                    octopus_url.clone(),
                    Service::Octopus,
                    octopus::server as Handler,
                ),
            ),
        ];
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the simulator's runtime starts");
            rt.block_on(async move {
                let stopped = async {
                    let _ = stopped.await;
                };
                let mut servers = Vec::new();
                for (listener, app) in routers {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    servers.push(tokio::spawn(async move {
                        let _ = axum::serve(listener, app).await;
                    }));
                }
                stopped.await;
                for s in servers {
                    s.abort();
                }
            });
        });
        Sim {
            world: shared,
            azure_ad_url,
            arm_url,
            octopus_url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The world, locked: read what happened, or change the story mid-run.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The environment a step needs to run against this simulation: endpoints, credentials,
    /// the first scale set, and an Octopus run context. Tests add or override `VMSS_*` values.
    pub fn env(&self) -> Vec<(String, String)> {
        let w = self.world();
        let scale_set = w
            .scale_sets
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        [
            ("AZURE_SUBSCRIPTION_ID", w.subscription_id.clone()),
            ("AZURE_TENANT_ID", w.tenant_id.clone()),
            ("AZURE_CLIENT_ID", w.client_id.clone()),
            ("AZURE_CLIENT_SECRET", w.client_secret.clone()),
            ("AZURE_AUTHORITY_HOST", self.azure_ad_url.clone()),
            ("AZURE_RESOURCE_MANAGER_URL", self.arm_url.clone()),
            ("VMSS_SCALESET_NAME", scale_set),
            ("VMSS_RESOURCEGROUP_NAME", w.resource_group.clone()),
            ("VMSS_DEPLOYMENTTARGET_ROLES", ids::ROLE.to_string()),
            ("VMSS_OCTOPUS_URL", self.octopus_url.clone()),
            ("VMSS_OCTOPUS_APIKEY", w.api_key.clone()),
            ("OCTOPUS_SPACE_ID", w.space_id.clone()),
            ("OCTOPUS_ENVIRONMENT_ID", ids::ENVIRONMENT.to_string()),
            ("OCTOPUS_PROJECT_ID", ids::PROJECT.to_string()),
            ("OCTOPUS_DEPLOYMENT_ID", ids::DEPLOYMENT.to_string()),
            ("OCTOPUS_TASK_ID", ids::TASK.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The response with a UTF-8 byte-order mark before its JSON body, as some Octopus servers and
/// proxies send it (OctopusClients' recorded answers start with one).
async fn with_bom(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut with = b"\xEF\xBB\xBF".to_vec();
    with.extend_from_slice(&body);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(with))
}

/// A JSON object of values moved in. `json!` serialises every `Value` it interpolates into a
/// new one, a deep copy: on a 10,000-VM fleet that copying (each VM's instance view into its
/// properties, those into the VM, the VMs into the page) cost more than the step did, and the
/// benchmark measured the simulator. Hot paths build their objects with this.
pub(crate) fn object<const N: usize>(fields: [(&str, serde_json::Value); N]) -> serde_json::Value {
    serde_json::Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}
