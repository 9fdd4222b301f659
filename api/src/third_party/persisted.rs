//! Documents clients sent with their hash (APQ-style `extensions.persistedQuery`), so that
//! later requests may send the hash alone. Bounded by their total size; the least recently used
//! go first. Each gateway keeps its own: a hash it does not know answers
//! `PERSISTED_QUERY_NOT_FOUND`, and the client sends the text again.

use std::sync::{Arc, Mutex};

use lru::LruCache;

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
        if hash.len() + document.len() > self.max_bytes {
            return;
        }
        let mut cache = self.cache.lock().expect("not poisoned");
        let added = hash.len() + document.len();
        if let Some(replaced) = cache.documents.put(hash.clone(), document) {
            cache.bytes -= hash.len() + replaced.len();
        }
        cache.bytes += added;
        while cache.bytes > self.max_bytes {
            let (hash, document) = cache.documents.pop_lru().expect("bytes are counted. This is a bug.");
            cache.bytes -= hash.len() + document.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_when_full() {
        let cache = PersistedQueries::new(32);
        cache.put("a".into(), "{ me { id } }".into());
        cache.put("b".into(), "{ me { email } }".into());
        assert!(cache.get("a").is_some(), "both fit (31 bytes), and a is now the most recent");
        cache.put("c".into(), "{ me { name } }".into());
        assert!(cache.get("b").is_none(), "b went");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        cache.put("d".into(), "x".repeat(64).into());
        assert!(cache.get("d").is_none(), "a document over the whole bound is not kept");
    }
}
