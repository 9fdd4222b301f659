//! Documents clients sent with their hash (APQ-style `extensions.persistedQuery`), so that
//! later requests may send the hash alone. Bounded by their total size; the least recently used
//! go first. Each gateway keeps its own: a hash it does not know answers
//! `PERSISTED_QUERY_NOT_FOUND`, and the client sends the text again.

use std::sync::{Arc, Mutex};

use lru::LruCache;

/// What an entry costs beyond its text (the map's node, the `Arc`): counted so that many tiny
/// documents can't take several times the bound.
const ENTRY_OVERHEAD: usize = 128;

pub struct PersistedQueries {
    max_bytes: usize,
    cache: Mutex<Cached>,
}

struct Cached {
    documents: LruCache<String, Arc<str>>,
    bytes: usize,
}

impl PersistedQueries {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, cache: Mutex::new(Cached { documents: LruCache::unbounded(), bytes: 0 }) }
    }

    /// The document with this (hex) hash, if it is here.
    pub fn get(&self, hash: &str) -> Option<Arc<str>> {
        self.cache.lock().expect("not poisoned").documents.get(hash).cloned()
    }

    /// Keeps `document` under `hash` (the caller checked that it is its hash).
    pub fn put(&self, hash: String, document: Arc<str>) {
        let size = |hash: &str, document: &str| ENTRY_OVERHEAD + hash.len() + document.len();
        if size(&hash, &document) > self.max_bytes {
            return;
        }
        let mut cache = self.cache.lock().expect("not poisoned");
        let added = size(&hash, &document);
        if let Some(replaced) = cache.documents.put(hash.clone(), document) {
            cache.bytes -= size(&hash, &replaced);
        }
        cache.bytes += added;
        while cache.bytes > self.max_bytes {
            let (hash, document) = cache.documents.pop_lru().expect("bytes are counted. This is a bug.");
            cache.bytes -= size(&hash, &document);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_when_full() {
        let cache = PersistedQueries::new(32 + 2 * ENTRY_OVERHEAD);
        cache.put("a".into(), "{ me { id } }".into());
        cache.put("b".into(), "{ me { email } }".into());
        assert!(cache.get("a").is_some(), "both fit (31 bytes and two entries), and a is now the most recent");
        cache.put("c".into(), "{ me { name } }".into());
        assert!(cache.get("b").is_none(), "b went");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        cache.put("d".into(), "x".repeat(300).into());
        assert!(cache.get("d").is_none(), "a document over the whole bound is not kept");
    }
}
