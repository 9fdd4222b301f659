//! The shape limits a request must keep, beyond depth and complexity (which async-graphql
//! checks): fields at the top level, aliases, and sign-in fields (`login`, `refreshToken`:
//! each runs an expensive password check or a token exchange, so one per request). They are
//! checked after async-graphql's own validation, so a request over several limits hears about
//! depth and cost first. While a request runs, at most `root_concurrency` of its top-level
//! fields resolve at once, so one request can't take every database connection.

use std::sync::{Arc, Mutex};

use async_graphql::{
    ServerError, ServerResult, ValidationResult, Value, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, NextValidation, ResolveInfo,
    },
    parser::types::{ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet},
};
use tokio::sync::Semaphore;

/// Fields whose every execution is a sign-in attempt.
const SIGN_IN_FIELDS: [&str; 2] = ["login", "refreshToken"];

#[derive(Clone, Copy, Debug)]
pub struct ShapeLimits {
    pub max_root_fields: usize,
    pub max_aliases: usize,
    pub root_concurrency: usize,
}

/// Installs the limits on a schema.
pub struct RequestShape(pub ShapeLimits);

impl ExtensionFactory for RequestShape {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ShapeCheck {
            limits: self.0,
            measured: Mutex::new(None),
            root_slots: Semaphore::new(self.0.root_concurrency.max(1)),
        })
    }
}

struct ShapeCheck {
    limits: ShapeLimits,
    /// The parsed request's shape, checked once validation has passed.
    measured: Mutex<Option<Shape>>,
    root_slots: Semaphore,
}

/// What the limits count in one document.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Shape {
    /// The most top-level fields of any operation (fragments spread at the top count).
    root_fields: usize,
    aliases: usize,
    /// The most sign-in fields of any mutation.
    sign_ins: usize,
}

impl Shape {
    fn of(document: &ExecutableDocument) -> Self {
        let mut shape = Shape::default();
        for (_, operation) in document.operations.iter() {
            let mut names = Vec::new();
            let complete = root_field_names(&operation.node.selection_set.node, document, &mut names, 0);
            let root_fields = if complete { names.len() } else { usize::MAX };
            shape.root_fields = shape.root_fields.max(root_fields);
            if operation.node.ty == OperationType::Mutation {
                let sign_ins = names.iter().filter(|name| SIGN_IN_FIELDS.contains(name)).count();
                shape.sign_ins = shape.sign_ins.max(sign_ins);
            }
            shape.aliases += aliases(&operation.node.selection_set.node);
        }
        shape.aliases +=
            document.fragments.values().map(|fragment| aliases(&fragment.node.selection_set.node)).sum::<usize>();
        shape
    }

    fn check(&self, limits: &ShapeLimits) -> Result<(), String> {
        if self.root_fields > limits.max_root_fields {
            return Err(format!("a request may select at most {} fields at the top level", limits.max_root_fields));
        }
        if self.aliases > limits.max_aliases {
            return Err(format!("a request may use at most {} aliases", limits.max_aliases));
        }
        if self.sign_ins > 1 {
            return Err("a request may sign in (login or refreshToken) only once".to_owned());
        }
        Ok(())
    }
}

/// The names of the fields at the top of `selection_set`, through fragments. `false` when
/// fragments nest deeper than any honest request does (a way around the limits, or a cycle).
fn root_field_names<'a>(
    selection_set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    names: &mut Vec<&'a str>,
    depth: usize,
) -> bool {
    if depth > 8 {
        return false;
    }
    selection_set.items.iter().all(|selection| match &selection.node {
        Selection::Field(field) => {
            names.push(field.node.name.node.as_str());
            true
        }
        Selection::InlineFragment(fragment) => {
            root_field_names(&fragment.node.selection_set.node, document, names, depth + 1)
        }
        Selection::FragmentSpread(spread) => {
            let fragment: Option<&FragmentDefinition> =
                document.fragments.get(&spread.node.fragment_name.node).map(|f| &f.node);
            fragment.is_none_or(|fragment| root_field_names(&fragment.selection_set.node, document, names, depth + 1))
        }
    })
}

fn aliases(selection_set: &SelectionSet) -> usize {
    selection_set
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

#[async_trait::async_trait]
impl Extension for ShapeCheck {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        *self.measured.lock().expect("not poisoned") = Some(Shape::of(&document));
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await?;
        let shape = self.measured.lock().expect("not poisoned").take().unwrap_or_default();
        shape.check(&self.limits).map_err(|message| vec![ServerError::new(message, None)])?;
        Ok(validated)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        let _slot = self.root_slots.acquire().await.expect("the semaphore is never closed");
        next.run(ctx, info).await
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    const LIMITS: ShapeLimits = ShapeLimits { max_root_fields: 8, max_aliases: 10, root_concurrency: 2 };

    #[derive(Clone, Default)]
    struct Query {
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    #[Object]
    impl Query {
        /// Takes a while, and records how many of it ran at once.
        async fn slow(&self) -> i32 {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            1
        }
    }

    fn schema(query: Query) -> Schema<Query, EmptyMutation, EmptySubscription> {
        Schema::build(query, EmptyMutation, EmptySubscription).extension(RequestShape(LIMITS)).finish()
    }

    #[tokio::test]
    async fn top_level_fields_resolve_a_few_at_a_time() {
        let query = Query::default();
        let response = schema(query.clone()).execute("{ a: slow b: slow c: slow d: slow e: slow f: slow }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(query.most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn shapes_over_the_limits_are_refused() {
        let schema = schema(Query::default());
        let many: String = (0..9).map(|n| format!("f{n}: slow ")).collect();
        let response = schema.execute(format!("{{ {many} }}")).await;
        assert!(response.errors[0].message.contains("top level"), "{:?}", response.errors);
        let spread = "{ ...a ...b } fragment a on Query { a1: slow a2: slow a3: slow a4: slow a5: slow }
            fragment b on Query { b1: slow b2: slow b3: slow b4: slow }";
        let response = schema.execute(spread).await;
        assert!(response.errors[0].message.contains("top level"), "fragments count: {:?}", response.errors);
    }

    #[test]
    fn fragments_nested_past_reason_count_as_over() {
        let mut query = String::from("a: slow");
        for _ in 0..9 {
            query = format!("... on Query {{ {query} }}");
        }
        let document = async_graphql::parser::parse_query(format!("{{ {query} }}")).unwrap();
        assert!(Shape::of(&document).check(&LIMITS).unwrap_err().contains("top level"));
    }

    #[test]
    fn sign_ins_are_counted_per_mutation() {
        let document = async_graphql::parser::parse_query(
            "mutation { a: login(email: \"x\", password: \"y\") { accessToken } b: refreshToken(refreshToken: \"z\") { accessToken } }",
        )
        .unwrap();
        let shape = Shape::of(&document);
        assert_eq!((shape.root_fields, shape.aliases, shape.sign_ins), (2, 2, 2));
        assert!(shape.check(&LIMITS).unwrap_err().contains("only once"));
    }
}
