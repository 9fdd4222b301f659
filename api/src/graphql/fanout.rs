//! Subscription fan-out: identical subscriptions of the same user on this gateway share one
//! GraphQL execution. When a thousand dashboards follow one job, each event is resolved and
//! serialised to JSON once and the same bytes handed to every subscriber, instead of resolved,
//! copied and serialised a thousand times.
//!
//! Sharing is keyed by (caller, document, variables, operation), so rights are never shared
//! between users: each user's first subscription is authorised like any other, and what it
//! resolves is exactly what that user's identical subscriptions would resolve. A subscriber
//! who joins a running execution first gets its latest response (for `analysisProgress`: the
//! job's current state), then every later one. The execution stops when its last subscriber
//! leaves.
//!
//! Delivery is paced: a response is handed out once the previous one has reached all but 0.1 %
//! of the subscribers (waiting at most 50 ms), so two fan-outs never compete, and the last response
//! carries the end of the stream, so each subscriber is woken once for both.

use std::{
    any::TypeId,
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use async_graphql::{Data, Request, Response, parser::types::OperationType};
use futures_util::{FutureExt, StreamExt, stream::BoxStream};
use tokio::sync::broadcast::{self, error::RecvError};

use super::{AppSchema, RequestContext};
use crate::auth::Credential;

/// How far a slow subscriber may fall behind its shared execution before it skips ahead.
const BACKLOG: usize = 1024;
/// How long a response may wait for the previous one to reach its subscribers (see
/// `Execution::until_delivered`).
const MAX_PACING: Duration = Duration::from_millis(50);

/// One GraphQL response (`{"data": …, "errors": …}`), serialised once for every subscriber.
pub type Payload = Arc<str>;

/// One message of a subscription stream: a response, and when a shared execution handed it
/// out (`None` for a subscriber's first message, the state it joined in, and for unshared
/// operations), for the delivery-latency metric.
pub struct Live {
    pub payload: Payload,
    pub published: Option<Instant>,
}

/// A response on its way, with the number of subscribers that have yet to take it.
#[derive(Clone)]
struct Delivery {
    payload: Payload,
    published: Instant,
    undelivered: Arc<AtomicUsize>,
    /// The execution ends with it: subscribers stop at once instead of being woken again
    /// when the channel closes (which would cost each a second wake-up and write).
    last: bool,
}

/// Executions are shared by identical subscriptions of one token only (its rights, its expiry).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    credential: Credential,
    query: String,
    variables: String,
    operation: Option<String>,
}

/// The latest response so far, and a receiver for the ones after it.
type Joined = (Option<Payload>, broadcast::Receiver<Delivery>);

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
    latest: Option<Payload>,
    /// `None` once the execution has ended: receivers then see the channel close.
    sender: Option<broadcast::Sender<Delivery>>,
}

impl Drop for Execution {
    fn drop(&mut self) {
        if let Some(upstream) = self.upstream.get() {
            upstream.abort();
        }
    }
}

impl Execution {
    /// Hands `response` to every subscriber, and ends the execution with it if `last`.
    /// Returns its delivery count and the number of subscribers it went to.
    fn publish(&self, response: Payload, last: bool) -> (Arc<AtomicUsize>, usize) {
        let mut state = self.state.lock().expect("not poisoned");
        state.latest = Some(response.clone());
        // Counted under the lock that joining takes, so the count is exact.
        let subscribers = state.sender.as_ref().map_or(0, broadcast::Sender::receiver_count);
        let undelivered = Arc::new(AtomicUsize::new(subscribers));
        if let Some(sender) = &state.sender {
            let delivery =
                Delivery { payload: response, published: Instant::now(), undelivered: undelivered.clone(), last };
            let _ = sender.send(delivery);
        }
        if last {
            state.sender = None;
        }
        (undelivered, subscribers)
    }

    /// Waits until the previous response has reached all but 0.1 % of its subscribers, or for
    /// `MAX_PACING`: if the next response's wake-ups were queued behind the previous ones, the
    /// runtime would run the newly woken connections first and the previous response's last
    /// subscribers would wait for the whole second fan-out (docs/perf.md).
    async fn until_delivered((undelivered, subscribers): &(Arc<AtomicUsize>, usize)) {
        let deadline = tokio::time::Instant::now() + MAX_PACING;
        while undelivered.load(Ordering::Relaxed) > subscribers / 1000 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

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

    fn start(&self, key: Key, request: Request, session_data: Arc<Data>) -> Arc<Execution> {
        let execution = Arc::new(Execution {
            state: Mutex::new(Shared { latest: None, sender: Some(broadcast::channel(BACKLOG).0) }),
            upstream: OnceLock::new(),
        });
        let this = Arc::downgrade(&execution);
        let mut stream = self.schema.execute_stream_with_session_data(request, session_data);
        let upstream = tokio::spawn(async move {
            let mut next = stream.next().await;
            let mut previous = None;
            while let Some(response) = next {
                // A last response (a job's end) and the end itself go out together, so each
                // subscriber is woken once and writes both in one message batch.
                let after = stream.next().now_or_never();
                if let Some(previous) = &previous {
                    Execution::until_delivered(previous).await;
                }
                let Some(execution) = this.upgrade() else { return };
                previous = Some(execution.publish(serialise(&response), matches!(after, Some(None))));
                next = match after {
                    Some(item) => item,
                    None => stream.next().await,
                };
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
fn caller_key(session_data: &Data) -> Option<Credential> {
    let context = session_data.get(&TypeId::of::<RequestContext>())?.downcast_ref::<RequestContext>()?;
    context.credential().ok()
}

/// Whether the request runs a subscription: queries and mutations sent over the socket are
/// never shared (two identical mutations must both run).
fn is_subscription(request: &Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else { return false };
    let mut operations = document.operations.iter();
    let operation = match &request.operation_name {
        Some(name) => operations.find(|(operation, _)| operation.is_some_and(|o| o.as_str() == name)),
        None => operations.next(),
    };
    operation.is_some_and(|(_, operation)| operation.node.ty == OperationType::Subscription)
}

fn serialise(response: &Response) -> Payload {
    serde_json::to_string(response)
        .unwrap_or_else(|error| {
            tracing::error!(%error, "serialising a subscription response");
            r#"{"data":null,"errors":[{"message":"internal error"}]}"#.to_owned()
        })
        .into()
}

impl SharedSubscriptions {
    /// The responses of one subscription (or the one response of a query or mutation sent
    /// over the socket), serialised, for the connection whose data is `session_data`.
    pub fn execute(&self, request: Request, session_data: Arc<Data>) -> BoxStream<'static, Live> {
        let caller = caller_key(&session_data).filter(|_| is_subscription(&request));
        let Some(caller) = caller else {
            return self
                .schema
                .execute_stream_with_session_data(request, session_data)
                .map(|r| Live { payload: serialise(&r), published: None })
                .boxed();
        };
        let variables = serde_json::to_string(&request.variables).unwrap_or_default();
        let key = Key {
            credential: caller,
            query: request.query.clone(),
            variables,
            operation: request.operation_name.clone(),
        };
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
                yield Live { payload: latest, published: None };
            }
            loop {
                match receiver.recv().await {
                    Ok(delivery) => {
                        delivery.undelivered.fetch_sub(1, Ordering::Relaxed);
                        yield Live { payload: delivery.payload, published: Some(delivery.published) };
                        if delivery.last {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        }
        .boxed()
    }
}
