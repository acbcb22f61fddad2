//! The worker's side of its executor processes: starts them, keeps each one's components
//! loaded, sends each call to the least busy live one, serves their outbound requests (with
//! every check of [`Outbound`]), and replaces one that dies — its calls in flight end in
//! [`SandboxError::ExecutorLost`] at once, which the worker turns into a decline the gateway
//! re-dispatches.

use std::{
    collections::{HashMap, HashSet},
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use peerhost_protocol::BlobHash;
use tokio::{
    process::Command,
    sync::{mpsc, oneshot, watch},
};
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::{debug, info, warn};

use super::{
    Confinement, ExecutorConfig,
    wire::{self, FromExecutor, ToExecutor},
};
use crate::sandbox::{Execution, Invocation, Outbound, SandboxConfig, SandboxError};

/// Longest wait for a new executor to report ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest pause before replacing an executor that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A pool of executor processes.
pub struct Pool {
    members: Vec<Arc<Member>>,
    /// Every component prepared, so a replacement executor can load it again.
    components: Mutex<HashMap<BlobHash, Bytes>>,
    next_call: AtomicU64,
    /// The confinement the executors reported (the first one's).
    confinement: Confinement,
    /// Executors that died and were replaced.
    replaced: AtomicU64,
}

/// One executor slot: its current process, replaced when it dies.
struct Member {
    index: usize,
    current: watch::Sender<Option<Arc<Process>>>,
}

/// A live executor process.
struct Process {
    pid: Option<u32>,
    tx: mpsc::UnboundedSender<ToExecutor>,
    calls: Mutex<HashMap<u64, Call>>,
    loads: Mutex<HashMap<BlobHash, Vec<LoadWaiter>>>,
    loaded: Mutex<HashSet<BlobHash>>,
    in_flight: AtomicUsize,
}

/// Who waits for a component to load.
type LoadWaiter = oneshot::Sender<Result<(), SandboxError>>;

struct Call {
    done: oneshot::Sender<Execution>,
    outbound: Arc<Outbound>,
}

impl Pool {
    /// Starts `spec.processes` executors sharing `config`'s pool slots, and waits until each
    /// reports ready. Logs each confinement step the machine refused.
    ///
    /// # Errors
    ///
    /// [`SandboxError::Internal`] if an executor cannot be started.
    pub async fn start(
        config: &SandboxConfig,
        spec: ExecutorConfig,
    ) -> Result<Arc<Self>, SandboxError> {
        let processes = spec.processes.max(1);
        let per_process = config.max_instances.div_ceil(processes as u32).max(1);
        let settings = SandboxConfig { max_instances: per_process, ..config.clone() };
        let spec = Arc::new(spec);
        let mut members = Vec::with_capacity(processes);
        let mut confinement = None;
        for index in 0..processes {
            let (process, reader, report) = spawn(&spec, &settings).await?;
            confinement.get_or_insert(report);
            let (current, _) = watch::channel(Some(process.clone()));
            let member = Arc::new(Member { index, current });
            members.push((member, process, reader));
        }
        let confinement = confinement.unwrap_or_default();
        for step in confinement.missing() {
            warn!(
                target: "peerhost::worker",
                step = %step.name, reason = step.missing.as_deref().unwrap_or_default(),
                "executor confinement step unavailable on this machine"
            );
        }
        info!(target: "peerhost::worker", processes, "executors ready");
        let pool = Arc::new(Self {
            members: members.iter().map(|(m, _, _)| m.clone()).collect(),
            components: Mutex::default(),
            next_call: AtomicU64::new(0),
            confinement,
            replaced: AtomicU64::new(0),
        });
        for (member, process, reader) in members {
            tokio::spawn(supervise(
                Arc::downgrade(&pool),
                member,
                process,
                reader,
                spec.clone(),
                settings.clone(),
            ));
        }
        Ok(pool)
    }

    /// The confinement the executors run under.
    pub fn confinement(&self) -> &Confinement {
        &self.confinement
    }

    /// Calls running in executors now.
    pub fn in_flight(&self) -> usize {
        let busy = |m: &Arc<Member>| {
            m.current.borrow().as_ref().map(|p| p.in_flight.load(Ordering::Relaxed))
        };
        self.members.iter().filter_map(busy).sum()
    }

    /// Executors that died and were replaced.
    pub fn replaced(&self) -> u64 {
        self.replaced.load(Ordering::Relaxed)
    }

    /// Process ids of the live executors.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().filter_map(|m| m.current.borrow().as_ref()?.pid).collect()
    }

    /// Compiles a component in one executor (the compile cache serves the others).
    pub(crate) async fn prepare(
        &self,
        hash: BlobHash,
        component: Bytes,
    ) -> Result<(), SandboxError> {
        self.components.lock().expect("components lock").insert(hash, component);
        let process = self.pick().await?;
        self.ensure_loaded(&process, hash).await
    }

    /// Forgets a component in every executor.
    pub fn unload(&self, hash: &BlobHash) {
        self.components.lock().expect("components lock").remove(hash);
        for member in &self.members {
            if let Some(process) = member.current.borrow().as_ref() {
                process.loaded.lock().expect("loaded lock").remove(hash);
                let _ = process.tx.send(ToExecutor::Unload { hash: *hash });
            }
        }
    }

    /// Runs one call in the least busy executor.
    pub(crate) async fn invoke(
        &self,
        hash: BlobHash,
        invocation: Invocation,
        outbound: Outbound,
    ) -> Execution {
        let lost = || Execution { result: Err(SandboxError::ExecutorLost), fuel_used: 0 };
        let Ok(process) = self.pick().await else { return lost() };
        // The executor orders a load before the calls sent after it: no need to wait here.
        if !self.send_load(&process, hash, false) {
            return Execution {
                result: Err(SandboxError::Internal("component was never prepared".into())),
                fuel_used: 0,
            };
        }
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let (done, finished) = oneshot::channel();
        let entry = Call { done, outbound: Arc::new(outbound) };
        process.calls.lock().expect("calls lock").insert(call, entry);
        process.in_flight.fetch_add(1, Ordering::Relaxed);
        let invocation = Box::new(invocation);
        let sent = process.tx.send(ToExecutor::Invoke { call, hash, invocation }).is_ok();
        let execution = if sent { finished.await.unwrap_or_else(|_| lost()) } else { lost() };
        process.in_flight.fetch_sub(1, Ordering::Relaxed);
        execution
    }

    /// Sends a load of `hash` to `process` unless it has (or is getting) it, or always if
    /// `again` (the executor answers every load, once the component is ready); `false` if the
    /// component is unknown.
    fn send_load(&self, process: &Process, hash: BlobHash, again: bool) -> bool {
        let Some(component) = self.components.lock().expect("components lock").get(&hash).cloned()
        else {
            return false;
        };
        if process.loaded.lock().expect("loaded lock").insert(hash) || again {
            let _ = process.tx.send(ToExecutor::Load { hash, component });
        }
        true
    }

    /// Loads `hash` in `process` and waits for the outcome.
    async fn ensure_loaded(&self, process: &Process, hash: BlobHash) -> Result<(), SandboxError> {
        let (tx, rx) = oneshot::channel();
        process.loads.lock().expect("loads lock").entry(hash).or_default().push(tx);
        if !self.send_load(process, hash, true) {
            return Err(SandboxError::Internal("component was never prepared".into()));
        }
        rx.await.unwrap_or(Err(SandboxError::ExecutorLost))
    }

    /// The live executor with the fewest calls in flight, waiting for a replacement if none
    /// is live.
    async fn pick(&self) -> Result<Arc<Process>, SandboxError> {
        let live = |m: &Member| m.current.borrow().clone();
        let best = self
            .members
            .iter()
            .filter_map(|m| live(m))
            .min_by_key(|p| p.in_flight.load(Ordering::Relaxed));
        if let Some(process) = best {
            return Ok(process);
        }
        let mut next = self.members[0].current.subscribe();
        let replaced = tokio::time::timeout(START_TIMEOUT, next.wait_for(Option::is_some)).await;
        match replaced {
            Ok(Ok(process)) => Ok(process.clone().expect("waited for a process")),
            _ => Err(SandboxError::ExecutorLost),
        }
    }
}

type Reader = FramedRead<tokio::process::ChildStdout, tokio_util::codec::LengthDelimitedCodec>;

/// Starts one executor and waits for its report.
async fn spawn(
    spec: &ExecutorConfig,
    settings: &SandboxConfig,
) -> Result<(Arc<Process>, (tokio::process::Child, Reader), Confinement), SandboxError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        SandboxError::Internal(format!("executor {}: {what}: {e}", spec.program.display()))
    };
    let mut child = Command::new(&spec.program)
        .args(&spec.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed("start", &e))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut writer = FramedWrite::new(stdin, wire::codec());
    let init = ToExecutor::Init { sandbox: settings.clone() };
    writer.send(wire::encode(&init)).await.map_err(|e| failed("settings", &e))?;
    let mut reader = FramedRead::new(stdout, wire::codec());
    let ready = tokio::time::timeout(START_TIMEOUT, reader.next()).await;
    let confinement = match ready {
        Ok(Some(Ok(frame))) => match wire::decode::<FromExecutor>(&frame) {
            Ok(FromExecutor::Ready { confinement }) => confinement,
            _ => return Err(failed("first message", &"not a ready report")),
        },
        Ok(_) => return Err(failed("start", &"exited before it was ready")),
        Err(_) => return Err(failed("start", &"not ready in time")),
    };
    let (tx, mut outbox) = mpsc::unbounded_channel::<ToExecutor>();
    tokio::spawn(async move {
        while let Some(message) = outbox.recv().await {
            if writer.send(wire::encode(&message)).await.is_err() {
                break;
            }
        }
    });
    let process = Arc::new(Process {
        pid: child.id(),
        tx,
        calls: Mutex::default(),
        loads: Mutex::default(),
        loaded: Mutex::default(),
        in_flight: AtomicUsize::new(0),
    });
    Ok((process, (child, reader), confinement))
}

/// Serves one member for the pool's lifetime: reads its executor's messages until it dies,
/// ends its calls, and starts a replacement.
async fn supervise(
    pool: std::sync::Weak<Pool>,
    member: Arc<Member>,
    mut process: Arc<Process>,
    (mut child, mut reader): (tokio::process::Child, Reader),
    spec: Arc<ExecutorConfig>,
    settings: SandboxConfig,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        while let Some(Ok(frame)) = reader.next().await {
            match wire::decode::<FromExecutor>(&frame) {
                Ok(message) => on_message(&process, message),
                Err(e) => {
                    warn!(target: "peerhost::worker", error = %e, "undecodable executor message");
                    break;
                }
            }
        }
        // The executor is gone (or speaks nonsense): end its calls now, then replace it.
        member.current.send_replace(None);
        let _ = child.start_kill();
        let status = child.wait().await;
        let calls: Vec<Call> =
            process.calls.lock().expect("calls lock").drain().map(|(_, c)| c).collect();
        for call in calls {
            let _ =
                call.done.send(Execution { result: Err(SandboxError::ExecutorLost), fuel_used: 0 });
        }
        process.loads.lock().expect("loads lock").clear();
        let Some(strong) = pool.upgrade() else { return };
        strong.replaced.fetch_add(1, Ordering::Relaxed);
        warn!(target: "peerhost::worker", executor = member.index, ?status, "executor died; replacing it");
        drop(strong);
        loop {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match spawn(&spec, &settings).await {
                Ok((next, (next_child, next_reader), _)) => {
                    (process, child, reader) = (next, next_child, next_reader);
                    member.current.send_replace(Some(process.clone()));
                    debug!(target: "peerhost::worker", executor = member.index, "executor replaced");
                    backoff = Duration::from_millis(50);
                    break;
                }
                Err(e) => {
                    warn!(target: "peerhost::worker", error = %e, "executor replacement failed")
                }
            }
            if pool.strong_count() == 0 {
                return;
            }
        }
    }
}

fn on_message(process: &Arc<Process>, message: FromExecutor) {
    match message {
        FromExecutor::Ready { .. } => {}
        FromExecutor::Loaded { hash, result } => {
            if result.is_err() {
                process.loaded.lock().expect("loaded lock").remove(&hash);
            }
            let waiting =
                process.loads.lock().expect("loads lock").remove(&hash).unwrap_or_default();
            for waiter in waiting {
                let _ = waiter.send(result.clone());
            }
        }
        FromExecutor::Done { call, execution } => {
            if let Some(call) = process.calls.lock().expect("calls lock").remove(&call) {
                let _ = call.done.send(execution);
            }
        }
        FromExecutor::Outbound { call, seq, request } => {
            let outbound =
                process.calls.lock().expect("calls lock").get(&call).map(|c| c.outbound.clone());
            let tx = process.tx.clone();
            tokio::spawn(async move {
                let result = match outbound {
                    Some(outbound) => outbound.serve(request).await,
                    None => Err(crate::sandbox::ForwardError::Other("the call is over".into())),
                };
                let _ = tx.send(ToExecutor::Forwarded { call, seq, result });
            });
        }
    }
}
