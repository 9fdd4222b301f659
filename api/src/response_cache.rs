//! Whole query responses, kept per caller and document, for the report a front end asks for
//! again and again while nothing changes.
//!
//! Every write to what such a response shows moves the database's data generation on, in the
//! writing transaction (triggers, migration `m20261203_000010_data_generation`). A request
//! reads the generation before it runs and its response is kept with it; a kept response is
//! served only while the generation is still the same, so no gateway serves a response older
//! than a write it could see, and nothing has to reach every gateway to invalidate it. A write
//! that commits while a response is being computed moves the generation past the one it is
//! kept with: it is never served. Entries also age out after `response_cache_secs`, for what
//! only time changes.
//!
//! Only a request asked before is looked up or kept: a first one is answered as computed, with
//! no statement more and nothing kept. A front end's report comes again and again; a one-off
//! query (a third party exploring) neither costs the generation's read nor pushes out what is
//! asked often.
//!
//! The key is the caller's whole standing (user or key, organisation, role or scope) and the
//! document with its operation name and variables: one caller's entry never answers another.
//! Which documents may be kept is decided in `graphql::response_reuse`; the caller was checked
//! and charged before the cache is asked.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use lru::LruCache;
use sea_orm::{ConnectionTrait, Statement};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{audit::AuditAction, auth::Viewer, error::ApiResult};

/// What an entry costs beyond its body (key, reads, the map's node).
const ENTRY_OVERHEAD: usize = 256;
/// Requests remembered as asked once (a key each, about 100 bytes): the least recently asked
/// are forgotten first.
const REMEMBERED_REQUESTS: usize = 16_384;

/// A read the response logged (action, child, session), logged again whenever it is served.
pub type Read = (AuditAction, Uuid, Option<Uuid>);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    viewer: Viewer,
    /// SHA-256 of the document, the operation name and the variables.
    request: [u8; 32],
}

impl Key {
    pub fn new(viewer: Viewer, document: &str, operation_name: Option<&str>, variables: &str) -> Self {
        let mut hash = Sha256::new();
        // Each part with its length, so that no two different requests hash the same parts.
        for part in [document, operation_name.unwrap_or_default(), variables] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        hash.update([u8::from(operation_name.is_some())]);
        Self { viewer, request: hash.finalize().into() }
    }
}

/// A kept response: its JSON as sent, the generation it was read at, and the reads it logged.
pub struct Entry {
    pub generation: i64,
    pub body: Bytes,
    pub reads: Vec<Read>,
    stored_at: Instant,
}

impl Entry {
    pub fn new(generation: i64, body: Bytes, reads: Vec<Read>) -> Self {
        Self { generation, body, reads, stored_at: Instant::now() }
    }

    fn size(&self) -> usize {
        ENTRY_OVERHEAD + self.body.len() + self.reads.len() * std::mem::size_of::<Read>()
    }
}

pub struct ResponseCache {
    max_bytes: usize,
    max_age: Duration,
    kept: Mutex<Kept>,
}

struct Kept {
    entries: LruCache<Key, Arc<Entry>>,
    bytes: usize,
    /// Requests asked before, kept or not.
    asked: LruCache<Key, ()>,
    /// The newest generation a request has seen: entries of older ones can never be served.
    generation: i64,
}

impl Kept {
    /// Notes that `generation` was read; drops every entry when it is newer. Whether it is
    /// the newest seen.
    fn see(&mut self, generation: i64) -> bool {
        if generation > self.generation {
            self.entries.clear();
            self.bytes = 0;
            self.generation = generation;
        }
        generation == self.generation
    }
}

impl ResponseCache {
    pub fn new(max_bytes: usize, max_age: Duration) -> Self {
        Self {
            max_bytes,
            max_age,
            kept: Mutex::new(Kept {
                entries: LruCache::unbounded(),
                bytes: 0,
                asked: LruCache::new(NonZeroUsize::new(REMEMBERED_REQUESTS).expect("not zero")),
                generation: i64::MIN,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max_bytes > 0 && !self.max_age.is_zero()
    }

    /// Whether the request under `key` was asked before (and so is worth looking up and
    /// keeping); remembers that it has been now.
    pub fn asked_before(&self, key: &Key) -> bool {
        let mut kept = self.kept.lock().expect("not poisoned");
        kept.asked.put(*key, ()).is_some()
    }

    /// The response kept under `key` if it was read at `generation` and is young enough; an
    /// entry that is neither goes. The first request to see a newer generation drops every
    /// entry: what a write (an erasure) made stale leaves memory at once.
    pub fn get(&self, key: &Key, generation: i64) -> Option<Arc<Entry>> {
        let mut kept = self.kept.lock().expect("not poisoned");
        kept.see(generation);
        let entry = kept.entries.get(key)?;
        if entry.generation == generation && entry.stored_at.elapsed() < self.max_age {
            return Some(entry.clone());
        }
        let gone = kept.entries.pop(key).expect("just found. This is a bug.");
        kept.bytes -= gone.size();
        None
    }

    /// Keeps `entry` under `key`, unless it is larger than a quarter of the whole cache. The
    /// least recently used entries go when full.
    pub fn put(&self, key: Key, entry: Entry) {
        let size = entry.size();
        if size > self.max_bytes / 4 {
            return;
        }
        let mut kept = self.kept.lock().expect("not poisoned");
        if !kept.see(entry.generation) {
            return;
        }
        if let Some(replaced) = kept.entries.put(key, Arc::new(entry)) {
            kept.bytes -= replaced.size();
        }
        kept.bytes += size;
        while kept.bytes > self.max_bytes {
            let (_, gone) = kept.entries.pop_lru().expect("bytes are counted. This is a bug.");
            kept.bytes -= gone.size();
        }
    }
}

/// The database's data generation now.
pub async fn current_generation(db: &impl ConnectionTrait) -> ApiResult<i64> {
    let query = Statement::from_string(db.get_database_backend(), "SELECT value FROM data_generation WHERE id = 1");
    let row =
        db.query_one_raw(query).await?.expect("migration 10 inserts the row and nothing deletes it. This is a bug.");
    Ok(row.try_get("", "value")?)
}

#[cfg(test)]
mod tests {
    use entity::enums::Role;

    use super::*;

    fn viewer(role: Role) -> Viewer {
        Viewer::user(Uuid::from_u128(1), Uuid::from_u128(2), role)
    }

    fn entry(generation: i64, bytes: usize) -> Entry {
        Entry::new(generation, Bytes::from(vec![b'x'; bytes]), Vec::new())
    }

    #[test]
    fn keys_differ_by_caller_and_by_every_part_of_the_request() {
        let key = |role, document, name, variables| Key::new(viewer(role), document, name, variables);
        let base = key(Role::Admin, "{ children { nodes { id } } }", None, "{}");
        assert_eq!(base, key(Role::Admin, "{ children { nodes { id } } }", None, "{}"));
        assert_ne!(base, key(Role::Counsellor, "{ children { nodes { id } } }", None, "{}"));
        assert_ne!(base, key(Role::Admin, "{ children { nodes { name } } }", None, "{}"));
        assert_ne!(base, key(Role::Admin, "{ children { nodes { id } } }", Some(""), "{}"));
        assert_ne!(base, key(Role::Admin, "{ children { nodes { id } } }", None, "{\"a\":1}"));
        // Moving text from one part to the next makes another key.
        assert_ne!(key(Role::Admin, "ab", Some("c"), "{}"), key(Role::Admin, "a", Some("bc"), "{}"));
    }

    #[test]
    fn an_entry_answers_only_at_its_generation_and_while_young() {
        let cache = ResponseCache::new(1 << 20, Duration::from_millis(200));
        let key = Key::new(viewer(Role::Admin), "{ me { id } }", None, "{}");
        cache.put(key, entry(7, 10));
        assert!(cache.get(&key, 7).is_some());
        assert!(cache.get(&key, 8).is_none(), "a write since");
        assert!(cache.get(&key, 7).is_none(), "a stale entry is dropped, not kept for later");
        cache.put(key, entry(7, 10));
        assert!(cache.get(&key, 7).is_none(), "a response read before a write seen is not kept");
        cache.put(key, entry(8, 10));
        std::thread::sleep(Duration::from_millis(250));
        assert!(cache.get(&key, 8).is_none(), "too old");
    }

    #[test]
    fn a_request_is_worth_keeping_once_asked_again() {
        let cache = ResponseCache::new(1 << 20, Duration::from_secs(60));
        let key = |i: usize| Key::new(viewer(Role::Admin), &format!("{{ a{i} }}"), None, "{}");
        assert!(!cache.asked_before(&key(0)), "a first request");
        assert!(cache.asked_before(&key(0)) && cache.asked_before(&key(0)));
        assert!(!cache.asked_before(&Key::new(viewer(Role::Counsellor), "{ a0 }", None, "{}")), "another caller's");
        // The least recently asked are forgotten first, the memory of them bounded.
        for i in 1..=REMEMBERED_REQUESTS {
            cache.asked_before(&key(i));
        }
        assert!(!cache.asked_before(&key(0)), "forgotten");
        assert!(cache.asked_before(&key(REMEMBERED_REQUESTS)));
    }

    #[test]
    fn the_least_recently_used_go_when_full() {
        let cache = ResponseCache::new(4 * (ENTRY_OVERHEAD + 100), Duration::from_secs(60));
        let keys: Vec<_> = (0..5).map(|i| Key::new(viewer(Role::Admin), &format!("{{ a{i} }}"), None, "{}")).collect();
        for key in &keys[..4] {
            cache.put(*key, entry(1, 100));
        }
        assert!(cache.get(&keys[0], 1).is_some());
        cache.put(keys[4], entry(1, 100));
        assert!(cache.get(&keys[1], 1).is_none(), "the least recently used went");
        assert!(cache.get(&keys[0], 1).is_some() && cache.get(&keys[4], 1).is_some());
        cache.put(keys[1], entry(1, 4 * 100));
        assert!(cache.get(&keys[1], 1).is_none(), "more than a quarter of the cache is not kept");
    }
}
