//! Connections of leaf objects (all fields scalars: the interval lists) resolved in one pass.
//!
//! A nested report is mostly intervals, and async-graphql resolves every field of every one
//! through a boxed future and the extensions' hooks (see `docs/perf.md`). A [`LeafConnection`]
//! is the same GraphQL type as the connection async-graphql derives (its type information is
//! that type's), but it first compiles the client's selection — fields, aliases, fragments —
//! into a [`Plan`] once, then writes each row's value directly. A selection it does not know
//! (a field that is not a plain scalar, a custom directive) goes the derived way instead, so
//! what clients get never depends on which way was taken.

use std::borrow::Cow;

use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value,
    connection::CursorType,
    indexmap::IndexMap,
    parser::types::{Field, Selection, SelectionSet},
    registry::Registry,
};

use super::pagination::{CursorKey, Page, PagedConnection};

/// A row whose GraphQL object has only scalar fields.
pub trait LeafRow: Clone + Send + Sync + 'static {
    /// The schema's object type for the row (derived): its type information, and the way
    /// selections this module does not handle are resolved.
    type Object: OutputType;
    /// The row's GraphQL type name, and the interfaces it implements.
    const TYPE: &'static str;
    const INTERFACES: &'static [&'static str];
    /// The fields [`LeafRow::scalar`] answers.
    const SCALARS: &'static [&'static str];

    fn into_object(self) -> Self::Object;
    fn cursor(&self) -> CursorKey;
    /// The value of scalar field `name`, one of [`LeafRow::SCALARS`].
    fn scalar(&self, name: &str) -> Value;
}

/// A page of `R` as `R::Object`'s connection.
pub struct LeafConnection<R> {
    page: Page<R>,
}

impl<R: LeafRow> LeafConnection<R> {
    pub fn new(page: Page<R>) -> Self {
        Self { page }
    }

    fn derived(&self) -> PagedConnection<R::Object> {
        let mut connection = async_graphql::connection::Connection::with_additional_fields(
            self.page.has_previous,
            self.page.has_next,
            super::pagination::ConnectionTotals { total_count: self.page.total },
        );
        connection.edges.extend(
            self.page
                .rows
                .iter()
                .map(|row| async_graphql::connection::Edge::new(row.cursor(), row.clone().into_object())),
        );
        connection
    }

    fn write(&self, plan: &[(Name, Part)]) -> Value {
        let mut object = IndexMap::with_capacity(plan.len());
        for (key, part) in plan {
            let value = match part {
                Part::Typename(name) => Value::String(name.to_string()),
                Part::TotalCount => Value::from(self.page.total),
                Part::Nodes(fields) => Value::List(self.page.rows.iter().map(|row| node(row, fields)).collect()),
                Part::Edges(fields) => Value::List(self.page.rows.iter().map(|row| edge(row, fields)).collect()),
                Part::PageInfo(fields) => self.page_info(fields),
                Part::Scalar(_)
                | Part::Cursor
                | Part::Node(_)
                | Part::HasNext
                | Part::HasPrevious
                | Part::StartCursor
                | Part::EndCursor => {
                    unreachable!("a connection's plan holds connection fields. This is a bug.")
                }
            };
            object.insert(key.clone(), value);
        }
        Value::Object(object)
    }

    fn page_info(&self, fields: &[(Name, Part)]) -> Value {
        let cursor = |row: Option<&R>| row.map_or(Value::Null, |row| Value::String(row.cursor().encode_cursor()));
        let mut object = IndexMap::with_capacity(fields.len());
        for (key, part) in fields {
            let value = match part {
                Part::Typename(name) => Value::String(name.to_string()),
                Part::HasNext => Value::Boolean(self.page.has_next),
                Part::HasPrevious => Value::Boolean(self.page.has_previous),
                Part::StartCursor => cursor(self.page.rows.first()),
                Part::EndCursor => cursor(self.page.rows.last()),
                _ => unreachable!("a page info's plan holds page info fields. This is a bug."),
            };
            object.insert(key.clone(), value);
        }
        Value::Object(object)
    }
}

fn node<R: LeafRow>(row: &R, fields: &[(Name, Part)]) -> Value {
    let mut object = IndexMap::with_capacity(fields.len());
    for (key, part) in fields {
        let value = match part {
            Part::Typename(name) => Value::String(name.to_string()),
            Part::Scalar(name) => row.scalar(name),
            _ => unreachable!("a node's plan holds scalar fields. This is a bug."),
        };
        object.insert(key.clone(), value);
    }
    Value::Object(object)
}

fn edge<R: LeafRow>(row: &R, fields: &[(Name, Part)]) -> Value {
    let mut object = IndexMap::with_capacity(fields.len());
    for (key, part) in fields {
        let value = match part {
            Part::Typename(name) => Value::String(name.to_string()),
            Part::Cursor => Value::String(row.cursor().encode_cursor()),
            Part::Node(fields) => node(row, fields),
            _ => unreachable!("an edge's plan holds edge fields. This is a bug."),
        };
        object.insert(key.clone(), value);
    }
    Value::Object(object)
}

/// What one response key of a selection becomes.
#[derive(Debug)]
enum Part {
    Typename(Name),
    // The connection's fields.
    TotalCount,
    Edges(Vec<(Name, Part)>),
    Nodes(Vec<(Name, Part)>),
    PageInfo(Vec<(Name, Part)>),
    // An edge's.
    Cursor,
    Node(Vec<(Name, Part)>),
    // Page info's.
    HasNext,
    HasPrevious,
    StartCursor,
    EndCursor,
    // A row's.
    Scalar(Name),
}

/// Which object a selection set is on.
#[derive(Clone, Copy)]
enum Level {
    Connection,
    Edge,
    PageInfo,
    Node,
}

/// Compiles selections into response keys in order, merging repeated keys as GraphQL merges
/// fields; `None` for anything not handled here.
struct Planner<'a, R> {
    ctx: &'a ContextSelectionSet<'a>,
    connection: Cow<'static, str>,
    edge: String,
    row: std::marker::PhantomData<R>,
}

impl<'a, R: LeafRow> Planner<'a, R> {
    fn type_name(&self, level: Level) -> &str {
        match level {
            Level::Connection => &self.connection,
            Level::Edge => &self.edge,
            Level::PageInfo => "PageInfo",
            Level::Node => R::TYPE,
        }
    }

    /// Whether a fragment on `condition` applies at `level`.
    fn applies(&self, condition: &str, level: Level) -> bool {
        condition == self.type_name(level) || (matches!(level, Level::Node) && R::INTERFACES.contains(&condition))
    }

    fn plan(&self, set: &SelectionSet, level: Level, into: &mut Vec<(Name, Part)>) -> Option<()> {
        for selection in &set.items {
            if !selection.node.directives().is_empty() {
                // @skip/@include are gone by now (async-graphql drops them before executing):
                // whatever is left is not ours to evaluate.
                return None;
            }
            match &selection.node {
                Selection::Field(field) => self.field(&field.node, level, into)?,
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let applies = fragment.type_condition.as_ref().is_none_or(|c| self.applies(&c.node.on.node, level));
                    if applies {
                        self.plan(&fragment.selection_set.node, level, into)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = self.ctx.query_env.fragments.get(&spread.node.fragment_name.node)?;
                    if !fragment.node.directives.is_empty() {
                        return None;
                    }
                    if self.applies(&fragment.node.type_condition.node.on.node, level) {
                        self.plan(&fragment.node.selection_set.node, level, into)?;
                    }
                }
            }
        }
        Some(())
    }

    fn field(&self, field: &Field, level: Level, into: &mut Vec<(Name, Part)>) -> Option<()> {
        if !field.arguments.is_empty() {
            return None;
        }
        let key = field.response_key().node.clone();
        let name = field.name.node.as_str();
        let nested = |level: Level| -> Option<Vec<(Name, Part)>> {
            let mut parts = Vec::new();
            self.plan(&field.selection_set.node, level, &mut parts)?;
            Some(parts)
        };
        let part = match (level, name) {
            (_, "__typename") => Part::Typename(Name::new(self.type_name(level))),
            (Level::Connection, "totalCount") => Part::TotalCount,
            (Level::Connection, "edges") => Part::Edges(nested(Level::Edge)?),
            (Level::Connection, "nodes") => Part::Nodes(nested(Level::Node)?),
            (Level::Connection, "pageInfo") => Part::PageInfo(nested(Level::PageInfo)?),
            (Level::Edge, "cursor") => Part::Cursor,
            (Level::Edge, "node") => Part::Node(nested(Level::Node)?),
            (Level::PageInfo, "hasNextPage") => Part::HasNext,
            (Level::PageInfo, "hasPreviousPage") => Part::HasPrevious,
            (Level::PageInfo, "startCursor") => Part::StartCursor,
            (Level::PageInfo, "endCursor") => Part::EndCursor,
            (Level::Node, name) if R::SCALARS.contains(&name) => Part::Scalar(field.name.node.clone()),
            _ => return None,
        };
        merge(into, key, part)
    }
}

/// Adds `part` under `key`, merging it into an earlier part of the same key (GraphQL's field
/// merging). `None` when the two are different fields (validation allows that across type
/// conditions): the derived way decides what that answers.
fn merge(into: &mut Vec<(Name, Part)>, key: Name, part: Part) -> Option<()> {
    let Some((_, existing)) = into.iter_mut().find(|(existing, _)| *existing == key) else {
        into.push((key, part));
        return Some(());
    };
    match (existing, part) {
        (Part::Edges(old), Part::Edges(new))
        | (Part::Nodes(old), Part::Nodes(new))
        | (Part::PageInfo(old), Part::PageInfo(new))
        | (Part::Node(old), Part::Node(new)) => {
            for (key, part) in new {
                merge(old, key, part)?;
            }
            Some(())
        }
        // The same field asked twice: one value.
        (Part::Scalar(old), Part::Scalar(new)) if *old == new => Some(()),
        (Part::Typename(_), Part::Typename(_))
        | (Part::TotalCount, Part::TotalCount)
        | (Part::Cursor, Part::Cursor)
        | (Part::HasNext, Part::HasNext)
        | (Part::HasPrevious, Part::HasPrevious)
        | (Part::StartCursor, Part::StartCursor)
        | (Part::EndCursor, Part::EndCursor) => Some(()),
        _ => None,
    }
}

impl<R: LeafRow> OutputType for LeafConnection<R> {
    fn type_name() -> Cow<'static, str> {
        PagedConnection::<R::Object>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        PagedConnection::<R::Object>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let connection = Self::type_name();
        let edge = format!("{}Edge", R::Object::type_name());
        let planner = Planner::<R> { ctx, connection, edge, row: std::marker::PhantomData };
        let mut plan = Vec::new();
        if planner.plan(&ctx.item.node, Level::Connection, &mut plan).is_some() {
            return Ok(self.write(&plan));
        }
        #[cfg(test)]
        tests::DERIVED.with(|count| count.set(count.get() + 1));
        self.derived().resolve(ctx, field).await
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
    use entity::{
        emotion_interval,
        enums::{Emotion, IntervalReview, IntervalSource},
    };
    use uuid::Uuid;

    use super::*;
    use crate::graphql::types::{EmotionInterval, Node};

    thread_local! {
        /// Connections that took the derived way (tests run on one thread each).
        pub static DERIVED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn page(rows: usize) -> Page<emotion_interval::Model> {
        let object = Uuid::now_v7();
        let rows = (0..rows as i64)
            .map(|index| emotion_interval::Model {
                id: Uuid::now_v7(),
                object_id: object,
                emotion: if index % 2 == 0 { Emotion::Happy } else { Emotion::Neutral },
                start_ms: index * 1000,
                end_ms: index * 1000 + 750,
                mean_confidence: 0.25 + index as f64 / 100.0,
                peak_confidence: 0.5,
                // Row 1 changed by a counsellor, row 2 a counsellor's own.
                source: if index == 2 { IntervalSource::Counsellor } else { IntervalSource::Model },
                review: (index == 1).then_some(IntervalReview::Changed),
                model_label: (index == 1).then_some(Emotion::Sad),
                model_start_ms: (index == 1).then_some(900),
                model_end_ms: (index == 1).then_some(1_900),
                coded_by: None,
                reviewed_by: None,
                reviewed_at: (index > 0).then(|| chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
                samples: (index != 2).then_some(2),
            })
            .collect();
        Page { rows, total: 7, has_previous: true, has_next: false }
    }

    /// The same page twice: once written here, once resolved the derived way.
    struct Query(usize);

    #[Object]
    impl Query {
        async fn fast(&self) -> LeafConnection<emotion_interval::Model> {
            LeafConnection::new(page_of(self.0))
        }

        async fn derived(&self) -> PagedConnection<EmotionInterval> {
            LeafConnection::new(page_of(self.0)).derived()
        }
    }

    /// Both fields must see identical rows (ids included).
    fn page_of(rows: usize) -> Page<emotion_interval::Model> {
        static PAGES: std::sync::OnceLock<Vec<Page<emotion_interval::Model>>> = std::sync::OnceLock::new();
        PAGES.get_or_init(|| vec![page(0), page(3)])[usize::from(rows > 0)].clone()
    }

    fn schema(rows: usize) -> Schema<Query, EmptyMutation, EmptySubscription> {
        // The interface intervals implement, for fragments on it.
        Schema::build(Query(rows), EmptyMutation, EmptySubscription).register_output_type::<Node>().finish()
    }

    async fn answer(rows: usize, field: &str, selection: &str, fragments: &str) -> String {
        let schema = schema(rows);
        let variables = match (selection.contains("$yes"), selection.contains("$no")) {
            (true, true) => "($yes: Boolean = true, $no: Boolean = false)",
            (true, false) => "($yes: Boolean = true)",
            (false, true) => "($no: Boolean = false)",
            (false, false) => "",
        };
        let query = format!("query{variables} {{ {field} {{ {selection} }} }} {fragments}");
        let response = schema.execute(query.as_str()).await;
        assert!(response.errors.is_empty(), "{query}: {:?}", response.errors);
        serde_json::to_string(&response.data).unwrap().replacen(field, "list", 1)
    }

    #[tokio::test]
    async fn writes_what_the_derived_resolvers_answer() {
        let selections: [(&str, &str); 9] = [
            (
                "__typename totalCount pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
                 edges { __typename cursor node { __typename id emotion startMs endMs durationMs meanConfidence peakConfidence } }",
                "",
            ),
            ("nodes { emotion startMs endMs }", ""),
            // Aliases, and one response key asked twice with different sub-selections.
            ("a: nodes { s: startMs } edges { node { id } } edges { cursor node { emotion id } } total: totalCount", ""),
            ("nodes { ...F ... on Node { id } ... on EmotionInterval { emotion } ... { startMs } }", "fragment F on EmotionInterval { endMs id }"),
            ("...C edges { ... on EmotionIntervalEdge { cursor } }", "fragment C on EmotionIntervalConnection { totalCount nodes { peakConfidence } }"),
            // @skip/@include, with literals and variables.
            ("nodes { id @skip(if: true) emotion @include(if: $yes) startMs @include(if: $no) endMs @skip(if: $no) }", ""),
            ("pageInfo { startCursor } edges @include(if: $no) { cursor }", ""),
            ("nodes { ... on Node @skip(if: $yes) { id } durationMs }", ""),
            ("nodes { source review reviewedAt }", ""),
        ];
        // One response key for two different fields, allowed across type conditions: the derived
        // way answers it.
        for selection in ["x: edges { cursor } ... on EmotionIntervalConnection { x: nodes { id } }"] {
            for rows in [3, 0] {
                let fast = answer(rows, "fast", selection, "").await;
                let derived = answer(rows, "derived", selection, "").await;
                assert_eq!(fast, derived, "{selection} with {rows} rows");
            }
        }
        DERIVED.set(0);
        for rows in [3, 0] {
            for (selection, fragments) in selections {
                let fast = answer(rows, "fast", selection, fragments).await;
                assert_eq!(DERIVED.get(), 0, "{selection} was not written in one pass");
                let derived = answer(rows, "derived", selection, fragments).await;
                assert_eq!(fast, derived, "{selection} with {rows} rows");
            }
        }
    }
}
