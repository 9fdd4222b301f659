//! Prometheus metrics, per server instance (tests run several servers in one process, so no
//! global registry).

use std::sync::Arc;

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Every SQL statement the gateway sends; the N+1 guard test reads it.
    pub sql_statements: Counter,
    pub sql_failures: Counter,
    pub sql_seconds: Histogram,
    pub graphql_requests: Counter,
    /// GraphQL requests answered from the response cache.
    pub response_cache_hits: Counter,
    /// From a shared subscription execution handing out an event to the event's message being
    /// written to a subscriber's socket: the gateway's own share of delivery latency (sampled:
    /// one connection in 16).
    pub subscription_delivery_seconds: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("imind");
        let sql_statements = Counter::default();
        let sql_failures = Counter::default();
        let sql_seconds = Histogram::new([0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]);
        let graphql_requests = Counter::default();
        let response_cache_hits = Counter::default();
        let subscription_delivery_seconds =
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5]);
        registry.register("sql_statements", "SQL statements executed", sql_statements.clone());
        registry.register("sql_failures", "SQL statements that failed", sql_failures.clone());
        registry.register("sql_statement_seconds", "SQL statement latency", sql_seconds.clone());
        registry.register("graphql_requests", "GraphQL requests served", graphql_requests.clone());
        registry.register(
            "response_cache_hits",
            "GraphQL requests answered from the response cache",
            response_cache_hits.clone(),
        );
        registry.register(
            "subscription_delivery_seconds",
            "Subscription event handed out to written to the subscriber's socket",
            subscription_delivery_seconds.clone(),
        );
        Self {
            registry: Arc::new(registry),
            sql_statements,
            sql_failures,
            sql_seconds,
            graphql_requests,
            response_cache_hits,
            subscription_delivery_seconds,
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
