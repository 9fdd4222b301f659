//! Analysed sessions' intervals in memory, so the nested report reads them without SQL.
//!
//! Intervals only change in a transaction that also bumps the session's `results_version`
//! (`jobs::results`), and every entry holds the version it was read at: a reader that has just
//! read the session row asks for that version, so no gateway serves intervals older than the
//! row it read, and nothing has to reach every gateway to invalidate them. Old versions are
//! never asked for again and age out. The cache is bounded by the number of intervals it holds
//! (`report_cache_intervals`); an entry is a session's intervals of one kind, by person, sorted
//! as their lists are.
//!
//! Entries are reached only from a session the caller was allowed to read (`crate::access`):
//! the cache holds rows, never rights.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use entity::{behaviour_interval, emotion_interval};
use lru::LruCache;
use uuid::Uuid;

/// A session's intervals of one kind, as of one results version.
#[derive(Debug)]
pub struct SessionIntervals<M> {
    pub version: i64,
    by_object: HashMap<Uuid, Vec<M>>,
    count: usize,
}

/// An interval row: whose it is and where it sorts.
pub trait IntervalRow: Clone + Send + Sync + 'static {
    fn object_id(&self) -> Uuid;
    /// The list's order: start, then id.
    fn sort_key(&self) -> (i64, Uuid);
}

impl IntervalRow for emotion_interval::Model {
    fn object_id(&self) -> Uuid {
        self.object_id
    }
    fn sort_key(&self) -> (i64, Uuid) {
        (self.start_ms, self.id)
    }
}

impl IntervalRow for behaviour_interval::Model {
    fn object_id(&self) -> Uuid {
        self.object_id
    }
    fn sort_key(&self) -> (i64, Uuid) {
        (self.start_ms, self.id)
    }
}

impl<M: IntervalRow> SessionIntervals<M> {
    /// Groups `rows` by person, each person's sorted by start, then id.
    pub fn new(version: i64, rows: impl IntoIterator<Item = M>) -> Self {
        let mut by_object: HashMap<Uuid, Vec<M>> = HashMap::new();
        let mut count = 0;
        for row in rows {
            count += 1;
            by_object.entry(row.object_id()).or_default().push(row);
        }
        for rows in by_object.values_mut() {
            rows.sort_unstable_by_key(IntervalRow::sort_key);
        }
        Self { version, by_object, count }
    }

    /// One person's intervals, sorted; empty for a person without any (or not of this session).
    pub fn of(&self, object: Uuid) -> &[M] {
        self.by_object.get(&object).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every interval of the session, person by person.
    pub fn all(&self) -> impl Iterator<Item = &M> {
        self.by_object.values().flatten()
    }
}

/// A bounded LRU of sessions' intervals of one kind.
pub struct Shelf<M> {
    state: Mutex<ShelfState<M>>,
    /// At most this many intervals are held, over all entries.
    limit: usize,
}

struct ShelfState<M> {
    entries: LruCache<Uuid, Arc<SessionIntervals<M>>>,
    held: usize,
}

impl<M: IntervalRow> Shelf<M> {
    fn new(limit: usize) -> Self {
        Self { state: Mutex::new(ShelfState { entries: LruCache::unbounded(), held: 0 }), limit }
    }

    /// The session's intervals at exactly `version`, if held.
    pub fn get(&self, session: Uuid, version: i64) -> Option<Arc<SessionIntervals<M>>> {
        let mut state = self.state.lock().expect("the interval cache's lock is never poisoned");
        state.entries.get(&session).filter(|entry| entry.version == version).cloned()
    }

    /// Keeps `entry` as the session's (replacing an older version), evicting the least recently
    /// used entries beyond the limit. An entry larger than the whole limit is not kept.
    pub fn put(&self, session: Uuid, entry: Arc<SessionIntervals<M>>) {
        if entry.count > self.limit {
            return;
        }
        let mut state = self.state.lock().expect("the interval cache's lock is never poisoned");
        if let Some(held) = state.entries.peek(&session)
            && held.version > entry.version
        {
            // A slower reader read an older version than one already held.
            return;
        }
        let added = entry.count;
        if let Some(replaced) = state.entries.put(session, entry) {
            state.held -= replaced.count;
        }
        state.held += added;
        while state.held > self.limit {
            let (_, evicted) = state.entries.pop_lru().expect("entries hold what is counted. This is a bug.");
            state.held -= evicted.count;
        }
    }

    /// Intervals held, over all entries.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.state.lock().expect("the interval cache's lock is never poisoned").held
    }
}

/// Both kinds of interval, each bounded by `limit` intervals.
pub struct IntervalCache {
    pub emotions: Shelf<emotion_interval::Model>,
    pub behaviours: Shelf<behaviour_interval::Model>,
}

impl IntervalCache {
    pub fn new(limit: usize) -> Self {
        Self { emotions: Shelf::new(limit), behaviours: Shelf::new(limit) }
    }
}

#[cfg(test)]
mod tests {
    use entity::enums::{Emotion, IntervalSource};

    use super::*;

    fn interval(object: Uuid, start_ms: i64) -> emotion_interval::Model {
        emotion_interval::Model {
            id: Uuid::now_v7(),
            object_id: object,
            emotion: Emotion::Happy,
            start_ms,
            end_ms: start_ms + 10,
            mean_confidence: 0.5,
            peak_confidence: 0.6,
            source: IntervalSource::Model,
            review: None,
            model_label: None,
            model_start_ms: None,
            model_end_ms: None,
            coded_by: None,
            reviewed_by: None,
            reviewed_at: None,
            samples: Some(1),
        }
    }

    #[test]
    fn groups_by_person_sorted_by_start() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let entry = SessionIntervals::new(1, [interval(a, 30), interval(b, 5), interval(a, 10)]);
        assert_eq!(entry.of(a).iter().map(|row| row.start_ms).collect::<Vec<_>>(), [10, 30]);
        assert_eq!(entry.of(b).len(), 1);
        assert!(entry.of(Uuid::now_v7()).is_empty());
    }

    #[test]
    fn serves_only_the_version_asked_for() {
        let shelf = Shelf::new(100);
        let session = Uuid::now_v7();
        shelf.put(session, Arc::new(SessionIntervals::new(2, [interval(Uuid::now_v7(), 0)])));
        assert!(shelf.get(session, 2).is_some());
        assert!(shelf.get(session, 1).is_none(), "an older version was asked for");
        assert!(shelf.get(session, 3).is_none(), "a newer version was asked for");
        // A reader that read the row before the results changed does not replace newer ones.
        shelf.put(session, Arc::new(SessionIntervals::new(1, [])));
        assert!(shelf.get(session, 2).is_some());
    }

    #[test]
    fn holds_at_most_its_limit_of_intervals() {
        let shelf = Shelf::new(5);
        let sessions: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        for session in &sessions {
            let object = Uuid::now_v7();
            shelf.put(*session, Arc::new(SessionIntervals::new(1, [interval(object, 0), interval(object, 1)])));
        }
        assert_eq!(shelf.held(), 4);
        assert!(shelf.get(sessions[0], 1).is_none() && shelf.get(sessions[1], 1).is_none());
        assert!(shelf.get(sessions[3], 1).is_some());
        let object = Uuid::now_v7();
        shelf.put(Uuid::now_v7(), Arc::new(SessionIntervals::new(1, (0..6).map(|start| interval(object, start)))));
        assert_eq!(shelf.held(), 4, "an entry over the whole limit is not kept");
    }
}
