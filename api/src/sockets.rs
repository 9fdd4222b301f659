//! Counted places per holder on this gateway: each open socket holds a `Seat`, and a user (or
//! API key) gets at most `per_user` of them (`IMIND_WS_MAX_SOCKETS_PER_USER`); each operation
//! an API key runs holds one of its `IMIND_API_KEY_MAX_SUBSCRIPTIONS`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use uuid::Uuid;

/// Open sockets per user on this gateway, each counted while its `Seat` lives.
#[derive(Clone)]
pub struct Sockets {
    open: Arc<Mutex<HashMap<Uuid, usize>>>,
    per_user: usize,
}

impl Sockets {
    pub fn new(per_user: usize) -> Self {
        Self { open: Arc::default(), per_user }
    }

    /// A seat for one more socket of `user`, unless they hold the most already.
    pub fn take(&self, user: Uuid) -> Option<Seat> {
        let mut open = self.open.lock().expect("not poisoned");
        let count = open.entry(user).or_default();
        if *count >= self.per_user {
            return None;
        }
        *count += 1;
        Some(Seat { sockets: self.clone(), user })
    }
}

pub struct Seat {
    sockets: Sockets,
    user: Uuid,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}
