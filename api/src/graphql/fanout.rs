//! Subscription fan-out: identical subscriptions of the same user on this gateway share one
//! GraphQL execution. When a thousand dashboards follow one job, each event is resolved once
//! and the response handed to every subscriber, instead of resolved a thousand times.
//!
//! Sharing is keyed by (caller, document, variables, operation), so rights are never shared
//! between users: each user's first subscription is authorised like any other, and what it
//! resolves is exactly what that user's identical subscriptions would resolve. A subscriber
//! who joins a running execution first gets its latest response (for `analysisProgress`: the
//! job's current state), then every later one. The execution stops when its last subscriber
//! leaves.

use std::{
    any::TypeId,
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, Weak},
};

use async_graphql::{Data, Executor, Request, Response};
use futures_util::{StreamExt, stream::BoxStream};
use tokio::sync::broadcast::{self, error::RecvError};

use super::{AppSchema, RequestContext};

/// How far a slow subscriber may fall behind its shared execution before it skips ahead.
const BACKLOG: usize = 1024;

type Key = (String, String, String, Option<String>);
/// The latest response so far, and a receiver for the ones after it.
type Joined = (Option<Arc<Response>>, broadcast::Receiver<Arc<Response>>);

#[derive(Clone)]
pub struct SharedSubscriptions {
    schema: AppSchema,
    running: Arc<Mutex<HashMap<Key, Weak<Execution>>>>,
}

struct Execution {
    state: Mutex<Shared>,
    upstream: OnceLock<tokio::task::AbortHandle>,
}

struct Shared {
    latest: Option<Arc<Response>>,
    /// `None` once the execution has ended: receivers then see the channel close.
    sender: Option<broadcast::Sender<Arc<Response>>>,
}

impl Drop for Execution {
    fn drop(&mut self) {
        if let Some(upstream) = self.upstream.get() {
            upstream.abort();
        }
    }
}

impl Execution {
    /// Joins the execution: its latest response and a receiver for the later ones, taken
    /// together under the lock that publishing holds, so nothing is missed or seen twice.
    /// `None` once it has ended.
    fn join(&self) -> Option<Joined> {
        let state = self.state.lock().expect("not poisoned");
        let receiver = state.sender.as_ref()?.subscribe();
        Some((state.latest.clone(), receiver))
    }
}

impl SharedSubscriptions {
    pub fn new(schema: AppSchema) -> Self {
        Self { schema, running: Arc::default() }
    }

    fn start(&self, key: Key, request: Request, session_data: Option<Arc<Data>>) -> Arc<Execution> {
        let execution = Arc::new(Execution {
            state: Mutex::new(Shared { latest: None, sender: Some(broadcast::channel(BACKLOG).0) }),
            upstream: OnceLock::new(),
        });
        let this = Arc::downgrade(&execution);
        let mut stream = Executor::execute_stream(&self.schema, request, session_data);
        let upstream = tokio::spawn(async move {
            while let Some(response) = stream.next().await {
                let Some(execution) = this.upgrade() else { return };
                let mut state = execution.state.lock().expect("not poisoned");
                let response = Arc::new(response);
                state.latest = Some(response.clone());
                if let Some(sender) = &state.sender {
                    let _ = sender.send(response);
                }
            }
            if let Some(execution) = this.upgrade() {
                execution.state.lock().expect("not poisoned").sender = None;
            }
        });
        let _ = execution.upstream.set(upstream.abort_handle());
        let mut running = self.running.lock().expect("not poisoned");
        running.retain(|_, execution| execution.strong_count() > 0);
        running.insert(key, Arc::downgrade(&execution));
        execution
    }
}

/// Who is asking, for the sharing key: the authenticated caller of the connection.
fn caller_key(session_data: Option<&Data>) -> Option<String> {
    let context = session_data?.get(&TypeId::of::<RequestContext>())?.downcast_ref::<RequestContext>()?;
    Some(format!("{:?}", context.caller.viewer().ok()?))
}

fn copy(response: &Response) -> Response {
    let mut copy = Response::new(response.data.clone());
    copy.errors = response.errors.clone();
    copy.extensions = response.extensions.clone();
    copy
}

impl Executor for SharedSubscriptions {
    async fn execute(&self, request: Request) -> Response {
        self.schema.execute(request).await
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let Some(caller) = caller_key(session_data.as_deref()) else {
            return Executor::execute_stream(&self.schema, request, session_data);
        };
        let variables = serde_json::to_string(&request.variables).unwrap_or_default();
        let key = (caller, request.query.clone(), variables, request.operation_name.clone());
        let existing = self.running.lock().expect("not poisoned").get(&key).and_then(Weak::upgrade);
        let (execution, (latest, mut receiver)) = match existing.and_then(|e| e.join().map(|joined| (e, joined))) {
            Some(joined) => joined,
            None => {
                let execution = self.start(key, request, session_data);
                let joined = execution.join().expect("a new execution is running");
                (execution, joined)
            }
        };
        async_stream::stream! {
            // Holding the execution keeps it running while this subscriber listens.
            let _execution = execution;
            if let Some(latest) = latest {
                yield copy(&latest);
            }
            loop {
                match receiver.recv().await {
                    Ok(response) => yield copy(&response),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        }
        .boxed()
    }
}
