//! Serves an HTTP query's response from the response cache (`crate::response_cache`) when
//! the same caller sent the same request and nothing it shows was written since, and keeps
//! responses for next time. It runs last, after the caller was checked and charged and the
//! document passed its limits (`standing`, `quota`, `documents`, `limits`), so a kept response
//! skips only the resolvers: whatever they would have logged as read is logged again.
//!
//! Kept are queries whose every field reads only tables the data generation counts: the
//! children, sessions and `me` roots and what lies under them, except the fields that read the
//! audit log or analysis jobs, or mint signed links (which must carry their own expiry).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use async_graphql::{
    Response, ServerResult, Value, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery},
    parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet},
};
use bytes::Bytes;

use super::RequestContext;
use crate::{
    response_cache::{Entry, Key, Read, current_generation},
    state::AppState,
};

/// Root fields whose answers the data generation covers.
const ROOTS: [&str; 5] = ["me", "children", "child", "session", "__typename"];

/// Fields under them that read what it does not count (the audit log, jobs) or mint signed
/// links.
const NEVER_KEPT: [&str; 8] =
    ["accessLog", "auditLog", "latestJob", "job", "videoUrl", "intervalsCsvUrl", "timelineUrl", "codingTsvUrl"];

/// What became of an HTTP request's response, for the HTTP layer to act on.
pub enum Reuse {
    /// Served from the cache: send these bytes.
    Served(Bytes),
    /// Computed: keep its JSON under `key`, as read at `generation`, with the reads it logged.
    Keep { key: Key, generation: i64, reads: Vec<Read> },
}

pub type ReuseSlot = Arc<Mutex<Option<Reuse>>>;

pub struct ResponseReuse;

impl ExtensionFactory for ResponseReuse {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ReuseCheck::default())
    }
}

#[derive(Default)]
struct ReuseCheck {
    /// The document and variables, once parsed and found fit to keep.
    keepable: Mutex<Option<(String, String)>>,
}

/// Whether every operation of `document` is a query whose every field may be kept.
fn keepable(document: &ExecutableDocument) -> bool {
    let mut seen = HashSet::new();
    document.operations.iter().all(|(_, operation)| {
        operation.node.ty == OperationType::Query && fits(&operation.node.selection_set.node, true, document, &mut seen)
    })
}

fn fits<'d>(
    selection_set: &'d SelectionSet,
    root: bool,
    document: &'d ExecutableDocument,
    seen: &mut HashSet<&'d str>,
) -> bool {
    selection_set.items.iter().all(|selection| match &selection.node {
        Selection::Field(field) => {
            let name = field.node.name.node.as_str();
            let allowed = if root { ROOTS.contains(&name) } else { !NEVER_KEPT.contains(&name) };
            allowed && fits(&field.node.selection_set.node, false, document, seen)
        }
        Selection::InlineFragment(fragment) => fits(&fragment.node.selection_set.node, root, document, seen),
        Selection::FragmentSpread(spread) => {
            let name = spread.node.fragment_name.node.as_str();
            // Validation (which runs after parsing) refuses cycles; here a fragment seen
            // before is simply not walked twice.
            if !seen.insert(name) {
                return true;
            }
            match document.fragments.get(name) {
                Some(fragment) => fits(&fragment.node.selection_set.node, root, document, seen),
                None => false,
            }
        }
    })
}

#[async_trait::async_trait]
impl Extension for ReuseCheck {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let enabled = ctx.data_opt::<AppState>().is_some_and(|state| state.responses.enabled());
        let http = ctx.data_opt::<RequestContext>().is_some_and(|request| request.reuse.is_some());
        if enabled && http && keepable(&document) {
            let variables = serde_json::to_string(variables).expect("variables are JSON values");
            *self.keepable.lock().expect("not poisoned") = Some((query.to_owned(), variables));
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let keepable = self.keepable.lock().expect("not poisoned").take();
        let (Some((document, variables)), Some(request), Some(state)) =
            (keepable, ctx.data_opt::<RequestContext>(), ctx.data_opt::<AppState>())
        else {
            return next.run(ctx, operation_name).await;
        };
        let (Some(slot), Ok(credential)) = (&request.reuse, request.credential()) else {
            return next.run(ctx, operation_name).await;
        };
        let generation = match current_generation(&state.db).await {
            Ok(generation) => generation,
            Err(error) => {
                tracing::warn!(%error, "reading the data generation; answering without the response cache");
                return next.run(ctx, operation_name).await;
            }
        };
        let key = Key::new(credential.viewer, &document, operation_name, &variables);
        if let Some(entry) = state.responses.get(&key, generation) {
            state.metrics.response_cache_hits.inc();
            for read in &entry.reads {
                request.log_read(&state.reads, &credential.viewer, *read);
            }
            *slot.lock().expect("not poisoned") = Some(Reuse::Served(entry.body.clone()));
            return Response::new(Value::Null);
        }
        let response = next.run(ctx, operation_name).await;
        if response.is_ok() && response.extensions.is_empty() {
            let reads = request.reads_logged();
            *slot.lock().expect("not poisoned") = Some(Reuse::Keep { key, generation, reads });
        }
        response
    }
}

/// Keeps a computed response's JSON when its request was found fit to keep.
pub fn keep(state: &AppState, reuse: Option<Reuse>, body: &Bytes) {
    if let Some(Reuse::Keep { key, generation, reads }) = reuse {
        state.responses.put(key, Entry::new(generation, body.clone(), reads));
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn fit(query: &str) -> bool {
        keepable(&parse_query(query).expect("a valid document"))
    }

    #[test]
    fn only_queries_of_counted_data_are_kept() {
        assert!(fit("{ children { nodes { id sessions { nodes { objects { nodes { label } } } } } } }"));
        assert!(fit("query Report($id: ID!) { session(id: $id) { title ...People } } \
                     fragment People on Session { objects { nodes { id } } }"));
        assert!(fit("{ me { id } a: child(id: \"x\") { name } __typename }"));
        // Other roots, mutations and what reads the audit log, jobs or mints links.
        assert!(!fit("{ auditLog { nodes { id } } }"));
        assert!(!fit("{ node(id: \"x\") { id } }"));
        assert!(!fit("mutation { logout }"));
        assert!(!fit("{ children { nodes { accessLog { nodes { id } } } } }"));
        assert!(!fit("{ session(id: \"x\") { latestJob { status } } }"));
        assert!(!fit("{ session(id: \"x\") { ... on Session { timelineUrl } } }"));
        assert!(!fit("{ session(id: \"x\") { ...F } } fragment F on Session { videoUrl }"));
        // An alias does not hide a field's name; a root reached through a fragment counts.
        assert!(!fit("{ session(id: \"x\") { children: latestJob { status } } }"));
        assert!(!fit("{ ...Root } fragment Root on Query { apiKeys { id } }"));
        // One operation that may not be kept spoils the document.
        assert!(!fit("query A { me { id } } query B { job(id: \"x\") { status } }"));
        assert!(!fit("{ ...Missing }"));
    }
}
