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

/// Fields under them that read what it does not count (the audit log, jobs: a video's
/// retention runs from its last analysis) or mint signed links. Every field reachable from
/// [`ROOTS`] is either here or listed, after a look at what it reads, in `kept_fields.txt`
/// (a test walks the schema).
const NEVER_KEPT: [&str; 9] = [
    "accessLog",
    "auditLog",
    "latestJob",
    "job",
    "videoRetainedUntil",
    "videoUrl",
    "intervalsCsvUrl",
    "timelineUrl",
    "codingTsvUrl",
];

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
    seen: &mut HashSet<(&'d str, bool)>,
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
            if !seen.insert((name, root)) {
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
        let key = Key::new(credential.viewer, &document, operation_name, &variables);
        if !state.responses.asked_before(&key) {
            return next.run(ctx, operation_name).await;
        }
        let generation = match current_generation(&state.db).await {
            Ok(generation) => generation,
            Err(error) => {
                tracing::warn!(%error, "reading the data generation; answering without the response cache");
                return next.run(ctx, operation_name).await;
            }
        };
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

    /// `Type.field` of every field a kept query can reach, but those never kept.
    fn reachable_fields() -> Vec<String> {
        use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
        let schema = async_graphql::parser::parse_schema(crate::graphql::sdl()).expect("our SDL parses");
        let mut types = std::collections::HashMap::new();
        for definition in &schema.definitions {
            if let TypeSystemDefinition::Type(definition) = definition {
                types.insert(definition.node.name.node.to_string(), &definition.node.kind);
            }
        }
        fn base(ty: &Type) -> &str {
            match &ty.base {
                BaseType::Named(name) => name.as_str(),
                BaseType::List(inner) => base(inner),
            }
        }
        // Interfaces and unions lead to every type that implements or belongs to them.
        let behind = |name: &str| -> Vec<String> {
            types
                .iter()
                .filter(|(_, kind)| match kind {
                    TypeKind::Object(object) => object.implements.iter().any(|i| i.node == name),
                    _ => false,
                })
                .map(|(member, _)| member.clone())
                .chain(match types.get(name) {
                    Some(TypeKind::Union(union)) => union.members.iter().map(|m| m.node.to_string()).collect(),
                    _ => Vec::new(),
                })
                .collect()
        };
        let mut fields = std::collections::BTreeSet::new();
        let mut pending: Vec<String> = Vec::new();
        let mut visited = HashSet::new();
        let TypeKind::Object(query) = types["Query"] else { panic!("Query is an object") };
        for field in &query.fields {
            if ROOTS.contains(&field.node.name.node.as_str()) {
                fields.insert(format!("Query.{}", field.node.name.node));
                pending.push(base(&field.node.ty.node).to_owned());
            }
        }
        while let Some(name) = pending.pop() {
            if !visited.insert(name.clone()) {
                continue;
            }
            pending.extend(behind(&name));
            let own = match types.get(&name) {
                Some(TypeKind::Object(object)) => &object.fields,
                Some(TypeKind::Interface(interface)) => &interface.fields,
                _ => continue,
            };
            for field in own {
                if !NEVER_KEPT.contains(&field.node.name.node.as_str()) {
                    fields.insert(format!("{name}.{}", field.node.name.node));
                    pending.push(base(&field.node.ty.node).to_owned());
                }
            }
        }
        fields.into_iter().collect()
    }

    /// A new field a kept query could reach must be looked at: does it read only tables the
    /// data generation counts, and nothing of the clock or of memory? Then it goes in
    /// `kept_fields.txt`; else in `NEVER_KEPT`.
    #[test]
    fn every_field_a_kept_query_reaches_was_looked_at() {
        let listed: Vec<&str> = include_str!("kept_fields.txt").lines().filter(|l| !l.is_empty()).collect();
        let reachable = reachable_fields();
        let new: Vec<&String> = reachable.iter().filter(|f| !listed.contains(&f.as_str())).collect();
        assert!(new.is_empty(), "fields to look at: {new:#?}");
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
