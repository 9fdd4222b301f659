use async_graphql::{ID, Object};
use entity::{enums::Role, user};

use crate::graphql::ids::Kind;

pub struct User(pub user::Model);

/// A person who signs in: an administrator, a counsellor or a guardian.
#[Object]
impl User {
    pub async fn id(&self) -> ID {
        Kind::User.id(self.0.id)
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn role(&self) -> Role {
        self.0.role
    }

    async fn name(&self) -> &str {
        &self.0.name
    }
}
