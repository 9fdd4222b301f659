//! Cursor connections for every list, loaded a whole level at a time.
//!
//! A nested query (children → sessions → objects → intervals) asks for one page per parent.
//! [`fetch_pages`] answers all parents of one level with ONE statement: window functions number
//! each parent's rows and count them, so the statement count of a nested query depends on its
//! depth, never on how many rows it touches.
//!
//! Cursors are keyset cursors — `(sort value, id)` — so a page never skips or repeats rows when
//! rows are added before it. They are opaque to clients (base64 JSON).

use std::{cmp::Ordering, collections::HashMap, hash::Hash};

use async_graphql::{
    SimpleObject,
    connection::{Connection, CursorType, Edge, OpaqueCursor},
};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult},
    sql::{Sql, statement},
};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 1000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SortValue {
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

impl From<SortValue> for Value {
    fn from(value: SortValue) -> Self {
        match value {
            SortValue::Text(text) => text.into(),
            SortValue::Time(time) => time.into(),
            SortValue::Int(int) => int.into(),
        }
    }
}

/// Where a row stands in its list: its sort value, then its id to break ties.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CursorKey {
    pub sort: SortValue,
    pub id: Uuid,
}

/// Cursors are async-graphql's opaque cursors (URL-safe base64 of the key's JSON).
impl CursorKey {
    pub fn encode(self) -> String {
        OpaqueCursor(self).encode_cursor()
    }

    /// Where this key stands against `other`; `None` when their sort values are of different
    /// kinds (a cursor of another list).
    fn compare(&self, other: &CursorKey) -> Option<Ordering> {
        let sort = match (&self.sort, &other.sort) {
            (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
            (SortValue::Time(a), SortValue::Time(b)) => a.cmp(b),
            (SortValue::Int(a), SortValue::Int(b)) => a.cmp(b),
            _ => return None,
        };
        Some(sort.then(self.id.cmp(&other.id)))
    }

    fn decode(cursor: &str) -> ApiResult<Self> {
        OpaqueCursor::decode_cursor(cursor)
            .map(|OpaqueCursor(key)| key)
            .map_err(|_| ApiError::bad_input(format!("`{cursor}` is not a valid cursor")))
    }
}

/// A connection's edges keep their key and encode it only if a client asks for the cursor.
impl CursorType for CursorKey {
    type Error = ApiError;

    fn decode_cursor(cursor: &str) -> ApiResult<Self> {
        CursorKey::decode(cursor)
    }

    fn encode_cursor(&self) -> String {
        self.clone().encode()
    }
}

/// The `first/after/last/before` arguments, checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// `last`/`before` paging: take rows from the end.
    pub backward: bool,
    pub limit: u64,
    pub after: Option<CursorKey>,
    pub before: Option<CursorKey>,
}

impl PageRequest {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        default_size: i32,
    ) -> ApiResult<Self> {
        let check = |name: &str, value: i32| {
            if (0..=MAX_PAGE_SIZE).contains(&value) {
                Ok(value as u64)
            } else {
                Err(ApiError::bad_input(format!("`{name}` must be between 0 and {MAX_PAGE_SIZE}")))
            }
        };
        let (backward, limit) = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_input("pass `first` or `last`, not both"));
            }
            (Some(first), None) => (false, check("first", first)?),
            (None, Some(last)) => (true, check("last", last)?),
            (None, None) => (before.is_some() && after.is_none(), default_size as u64),
        };
        Ok(Self {
            backward,
            limit,
            after: after.as_deref().map(CursorKey::decode).transpose()?,
            before: before.as_deref().map(CursorKey::decode).transpose()?,
        })
    }
}

/// The page size a connection field costs in the complexity estimate.
pub fn page_cost(first: Option<i32>, last: Option<i32>, default_size: i32) -> usize {
    first.or(last).unwrap_or(default_size).clamp(0, MAX_PAGE_SIZE) as usize
}

/// Above every configurable limit, and far enough below `usize::MAX` that async-graphql's own
/// sums of sibling costs can't overflow.
pub(crate) const COST_CEILING: usize = usize::MAX >> 16;

/// What a list field costs: its page size (the real bound of what it returns) times what is
/// under it, saturating.
pub fn connection_cost(first: Option<i32>, last: Option<i32>, default_size: i32, child_complexity: usize) -> usize {
    page_cost(first, last, default_size).saturating_mul(child_complexity).min(COST_CEILING)
}

/// One kind of list: which table, grouped by which parent column, in which order, filtered how.
/// The value of a listing is its filter, so equal filters share a batched statement.
pub trait Listing: Clone + Hash + Eq + Send + Sync + 'static {
    type Model: FromQueryResult + Clone + Send + Sync + 'static;
    const TABLE: &'static str;
    /// The column holding the parent's id; pages are per value of it.
    const PARENT: &'static str;
    /// The sort column; ties are broken by `id`.
    const SORT: &'static str;
    const DEFAULT_PAGE_SIZE: i32;

    fn cursor_key(model: &Self::Model) -> CursorKey;
    /// Extra conditions on the listed table (alias `t`).
    fn filter(&self) -> Sql;
}

#[derive(Clone, Debug)]
pub struct Page<M> {
    pub rows: Vec<M>,
    pub total: i64,
    pub has_previous: bool,
    pub has_next: bool,
}

impl<M> Page<M> {
    pub fn empty() -> Self {
        Self { rows: Vec::new(), total: 0, has_previous: false, has_next: false }
    }
}

/// A page of every parent in `parents`, in one statement.
pub async fn fetch_pages<L: Listing>(
    db: &impl ConnectionTrait,
    parents: &[Uuid],
    listing: &L,
    page: &PageRequest,
) -> Result<HashMap<Uuid, Page<L::Model>>, DbErr> {
    let mut result: HashMap<Uuid, Page<L::Model>> = parents.iter().map(|id| (*id, Page::empty())).collect();
    if parents.is_empty() {
        return Ok(result);
    }
    let (table, parent, sort) = (L::TABLE, L::PARENT, L::SORT);

    // Rows inside the cursors' window.
    let mut window = Sql::default();
    if let Some(after) = &page.after {
        window.and(Sql::new(
            format!("(t.{sort} > ? OR (t.{sort} = ? AND t.id > ?))"),
            [after.sort.clone().into(), after.sort.clone().into(), after.id.into()],
        ));
    }
    if let Some(before) = &page.before {
        window.and(Sql::new(
            format!("(t.{sort} < ? OR (t.{sort} = ? AND t.id < ?))"),
            [before.sort.clone().into(), before.sort.clone().into(), before.id.into()],
        ));
    }
    let mut filter = Sql::is_in(&format!("t.{parent}"), parents.iter().map(|id| Value::from(*id)));
    filter.and(listing.filter());

    let direction = if page.backward { "DESC" } else { "ASC" };
    // BIGINT everywhere: PostgreSQL types the flag int4 and its SUM numeric, neither of which
    // decodes as i64.
    let in_window = format!("CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT)", window.or_true());
    // page_rank numbers the rows inside the window from the end we page from; page_row = 1
    // keeps one row per parent even when the window is empty, so totals are always known.
    let text = format!(
        "SELECT * FROM (\
           SELECT t.*, \
             {in_window} AS page_in_window, \
             COUNT(*) OVER (PARTITION BY t.{parent}) AS page_total, \
             CAST(SUM({in_window}) OVER (PARTITION BY t.{parent}) AS BIGINT) AS page_window_size, \
             CAST(SUM({in_window}) OVER (PARTITION BY t.{parent} ORDER BY t.{sort} {direction}, t.id {direction} \
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS page_rank, \
             ROW_NUMBER() OVER (PARTITION BY t.{parent} ORDER BY t.{sort}, t.id) AS page_row \
           FROM {table} t WHERE {filter} \
         ) ranked \
         WHERE (page_in_window = 1 AND page_rank <= ?) OR page_row = 1 \
         ORDER BY {parent}, {sort}, id",
        filter = filter.text,
    );
    // The window condition appears three times (in_window ×3), bound each time.
    let mut values = Vec::new();
    for _ in 0..3 {
        values.extend(window.values.iter().cloned());
    }
    values.extend(filter.values);
    values.push((page.limit as i64).into());
    let rows = db.query_all_raw(statement(db.get_database_backend(), &text, values)).await?;

    for row in rows {
        let parent_id: Uuid = row.try_get("", parent)?;
        let Some(page_of_parent) = result.get_mut(&parent_id) else { continue };
        let total: i64 = row.try_get("", "page_total")?;
        let window_size: i64 = row.try_get("", "page_window_size")?;
        page_of_parent.total = total;
        let excluded_by_cursors = total > window_size;
        if page.backward {
            page_of_parent.has_previous = window_size > page.limit as i64;
            page_of_parent.has_next = page.before.is_some() && excluded_by_cursors;
        } else {
            page_of_parent.has_next = window_size > page.limit as i64;
            page_of_parent.has_previous = page.after.is_some() && excluded_by_cursors;
        }
        let in_window: i64 = row.try_get("", "page_in_window")?;
        let rank: i64 = row.try_get("", "page_rank")?;
        if in_window == 1 && rank <= page.limit as i64 {
            page_of_parent.rows.push(L::Model::from_query_result(&row, "")?);
        }
    }
    Ok(result)
}

/// The page [`fetch_pages`] answers for one parent, from that parent's rows in memory: `rows`
/// in list order, of which `keep` passes those the listing's filter would.
pub fn page_in_memory<M: Clone>(
    rows: &[M],
    keep: impl Fn(&M) -> bool,
    key: impl Fn(&M) -> CursorKey,
    page: &PageRequest,
) -> ApiResult<Page<M>> {
    let outside = |row_key: &CursorKey, cursor: &CursorKey, wanted: Ordering| {
        row_key
            .compare(cursor)
            .map(|ordering| ordering != wanted)
            .ok_or_else(|| ApiError::bad_input("the cursor is not one of this list"))
    };
    let mut total = 0i64;
    let mut window = Vec::new();
    for row in rows.iter().filter(|row| keep(row)) {
        total += 1;
        let row_key = key(row);
        if let Some(after) = &page.after
            && outside(&row_key, after, Ordering::Greater)?
        {
            continue;
        }
        if let Some(before) = &page.before
            && outside(&row_key, before, Ordering::Less)?
        {
            continue;
        }
        window.push(row);
    }
    let window_size = window.len() as i64;
    let limit = page.limit as usize;
    let taken =
        if page.backward { &window[window.len().saturating_sub(limit)..] } else { &window[..limit.min(window.len())] };
    let excluded_by_cursors = total > window_size;
    let over_limit = window_size > page.limit as i64;
    let (has_previous, has_next) = if page.backward {
        (over_limit, page.before.is_some() && excluded_by_cursors)
    } else {
        (page.after.is_some() && excluded_by_cursors, over_limit)
    };
    Ok(Page { rows: taken.iter().map(|row| (*row).clone()).collect(), total, has_previous, has_next })
}

/// `totalCount` on every connection.
#[derive(SimpleObject, Clone, Copy)]
pub struct ConnectionTotals {
    /// Rows matching the filters, ignoring paging.
    pub total_count: i64,
}

pub type PagedConnection<N> = Connection<CursorKey, N, ConnectionTotals>;

/// Turns a loaded page into a GraphQL connection of `N`.
pub fn into_connection<L: Listing, N: async_graphql::OutputType>(
    page: Page<L::Model>,
    node: impl Fn(L::Model) -> N,
) -> PagedConnection<N> {
    let mut connection = Connection::with_additional_fields(
        page.has_previous,
        page.has_next,
        ConnectionTotals { total_count: page.total },
    );
    connection.edges.extend(page.rows.into_iter().map(|row| Edge::new(L::cursor_key(&row), node(row))));
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_page_arguments() {
        assert!(PageRequest::new(Some(1), None, Some(1), None, 10).is_err());
        assert!(PageRequest::new(Some(-1), None, None, None, 10).is_err());
        assert!(PageRequest::new(Some(MAX_PAGE_SIZE + 1), None, None, None, 10).is_err());
        assert!(PageRequest::new(None, Some("garbage".into()), None, None, 10).is_err());
        let page = PageRequest::new(None, None, Some(3), None, 10).unwrap();
        assert!(page.backward);
        assert_eq!(page.limit, 3);
        assert_eq!(PageRequest::new(None, None, None, None, 10).unwrap().limit, 10);
    }

    #[test]
    fn cursors_round_trip() {
        let key = CursorKey { sort: SortValue::Int(42), id: Uuid::now_v7() };
        assert_eq!(CursorKey::decode(&key.clone().encode()).unwrap(), key);
    }
}
