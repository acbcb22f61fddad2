//! The executor process (`peerhost-node executor`, started by a worker, never by hand): reads
//! its settings, confines itself, starts a sandbox, and then compiles and runs what the worker
//! sends over stdin, answering on stdout. Outbound requests of effectful guests go back to the
//! worker (this process has no network). Its stderr is the worker's.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::{
    FutureExt, SinkExt, StreamExt,
    future::{BoxFuture, Shared},
};
use peerhost_protocol::BlobHash;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{
    Confinement, confine,
    wire::{self, FromExecutor, ToExecutor},
};
use crate::sandbox::{
    Compiled, Forward, ForwardError, Forwarded, ForwardedResponse, Outbound, Sandbox, SandboxError,
};

/// A component being compiled or loaded: calls sent after its load await the same result.
type Slot = Shared<BoxFuture<'static, Result<Arc<Compiled>, SandboxError>>>;
type Replies = Mutex<HashMap<(u64, u32), oneshot::Sender<Result<ForwardedResponse, ForwardError>>>>;

/// State shared by the executor's tasks.
struct Executor {
    sandbox: Arc<Sandbox>,
    components: Mutex<HashMap<BlobHash, Slot>>,
    out: mpsc::UnboundedSender<FromExecutor>,
    replies: Replies,
}

/// Runs the executor until its stdin closes. Must be called before any other thread exists
/// (the network namespace needs a single-threaded process).
pub fn run() -> std::process::ExitCode {
    let mut stdin = std::io::stdin();
    let init = match wire::read_frame_blocking(&mut stdin).map(|f| wire::decode::<ToExecutor>(&f)) {
        Ok(Ok(ToExecutor::Init { sandbox })) => sandbox,
        _ => {
            eprintln!("executor: expected the worker's settings on stdin");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut confinement = Confinement::default();
    confine::before_threads(&mut confinement, init.cache_dir.as_deref());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("executor: cannot start a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(init, confinement))
}

async fn serve(
    config: crate::sandbox::SandboxConfig,
    mut confinement: Confinement,
) -> std::process::ExitCode {
    let sandbox = match Sandbox::new(config) {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("executor: cannot start the sandbox: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    confine::after_start(&mut confinement);

    // The pipes from the worker, read and written by the runtime's reactor (tokio's own
    // stdin and stdout go through a blocking thread: a hand-off per frame).
    let (input, output) = match pipes() {
        Ok(pipes) => pipes,
        Err(e) => {
            eprintln!("executor: stdin and stdout must be pipes from the worker: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let (out, mut outbox) = mpsc::unbounded_channel();
    let mut writer = FramedWrite::new(output, wire::codec());
    let writing = tokio::spawn(async move {
        while let Some(message) = outbox.recv().await {
            if writer.send(wire::encode(&message)).await.is_err() {
                break;
            }
        }
    });
    let _ = out.send(FromExecutor::Ready { confinement });
    let executor = Arc::new(Executor {
        sandbox: Arc::new(sandbox),
        components: Mutex::default(),
        out,
        replies: Mutex::default(),
    });
    let mut reader = FramedRead::new(input, wire::codec());
    while let Some(Ok(frame)) = reader.next().await {
        match wire::decode::<ToExecutor>(&frame) {
            Ok(message) => executor.clone().handle(message),
            Err(e) => {
                eprintln!("executor: undecodable frame from the worker: {e}");
                break;
            }
        }
    }
    drop(executor);
    writing.abort();
    std::process::ExitCode::SUCCESS
}

fn pipes() -> std::io::Result<(tokio::net::unix::pipe::Receiver, tokio::net::unix::pipe::Sender)> {
    use std::os::fd::AsFd;
    let input = std::io::stdin().as_fd().try_clone_to_owned()?;
    let output = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok((
        tokio::net::unix::pipe::Receiver::from_owned_fd(input)?,
        tokio::net::unix::pipe::Sender::from_owned_fd(output)?,
    ))
}

impl Executor {
    fn handle(self: Arc<Self>, message: ToExecutor) {
        match message {
            ToExecutor::Init { .. } => {}
            ToExecutor::Load { hash, component } => {
                let sandbox = self.sandbox.clone();
                let slot = self
                    .components
                    .lock()
                    .expect("components lock")
                    .entry(hash)
                    .or_insert_with(|| {
                        async move { sandbox.prepare(hash, || component).await }.boxed().shared()
                    })
                    .clone();
                tokio::spawn(async move {
                    let result = slot.await.map(|_| ());
                    let _ = self.out.send(FromExecutor::Loaded { hash, result });
                });
            }
            ToExecutor::Invoke { call, hash, invocation } => {
                let slot = self.components.lock().expect("components lock").get(&hash).cloned();
                tokio::spawn(async move {
                    let execution = self.invoke(call, slot, *invocation).await;
                    let _ = self.out.send(FromExecutor::Done { call, execution });
                });
            }
            ToExecutor::Forwarded { call, seq, result } => {
                let waiting = self.replies.lock().expect("replies lock").remove(&(call, seq));
                if let Some(waiting) = waiting {
                    let _ = waiting.send(result);
                }
            }
            ToExecutor::Unload { hash } => {
                self.components.lock().expect("components lock").remove(&hash);
            }
        }
    }

    async fn invoke(
        self: &Arc<Self>,
        call: u64,
        slot: Option<Slot>,
        invocation: crate::sandbox::Invocation,
    ) -> crate::sandbox::Execution {
        let failed = |e| crate::sandbox::Execution { result: Err(e), fuel_used: 0 };
        let Some(slot) = slot else {
            return failed(SandboxError::Internal("component not loaded in the executor".into()));
        };
        // A load sent before this call may still be compiling.
        let compiled = match slot.await {
            Ok(compiled) => compiled,
            Err(e) => return failed(e),
        };
        let forward =
            Arc::new(Back { executor: Arc::downgrade(self), call, seq: Default::default() });
        let outbound = Outbound::forwarded(invocation.allowed_hosts.clone(), forward);
        self.sandbox.invoke_with(&compiled, invocation, outbound).await
    }
}

/// Outbound requests of one call, sent back to the worker.
struct Back {
    executor: std::sync::Weak<Executor>,
    call: u64,
    seq: std::sync::atomic::AtomicU32,
}

impl Forward for Back {
    fn forward(
        &self,
        request: Forwarded,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<ForwardedResponse, ForwardError>> + Send>>
    {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let lost = || ForwardError::Other("the worker is gone".into());
        if let Some(executor) = self.executor.upgrade() {
            executor.replies.lock().expect("replies lock").insert((self.call, seq), tx);
            let _ = executor.out.send(FromExecutor::Outbound { call: self.call, seq, request });
        }
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err(lost())) })
    }
}
