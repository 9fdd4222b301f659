//! Hand-written SQL fragments with bound values, for the few statements sea-query does not
//! express well (window functions over parent partitions). Fragments use `?` placeholders and
//! are numbered for PostgreSQL when the statement is built. Identifiers are never user input.

use sea_orm::{DbBackend, Statement, Value};

#[derive(Clone, Debug, Default)]
pub struct Sql {
    pub text: String,
    pub values: Vec<Value>,
}

impl Sql {
    pub fn new(text: impl Into<String>, values: impl IntoIterator<Item = Value>) -> Self {
        Self { text: text.into(), values: values.into_iter().collect() }
    }

    /// Appends ` AND (other)`, or becomes `other` when empty.
    pub fn and(&mut self, other: Sql) -> &mut Self {
        if other.text.is_empty() {
            return self;
        }
        if self.text.is_empty() {
            self.text = other.text;
        } else {
            self.text = format!("({}) AND ({})", self.text, other.text);
        }
        self.values.extend(other.values);
        self
    }

    /// `column IN (?, ?, …)`.
    /// `column IN (…)`; nothing at all for no values (PostgreSQL refuses `IN ()`).
    pub fn is_in(column: &str, ids: impl IntoIterator<Item = Value>) -> Self {
        let values: Vec<Value> = ids.into_iter().collect();
        if values.is_empty() {
            return Self::new("1 = 0", []);
        }
        let marks = vec!["?"; values.len()].join(", ");
        Self::new(format!("{column} IN ({marks})"), values)
    }

    pub fn or_true(&self) -> &str {
        if self.text.is_empty() { "1 = 1" } else { &self.text }
    }
}

/// Builds a statement, turning `?` into `$1, $2, …` for PostgreSQL.
pub fn statement(backend: DbBackend, text: &str, values: Vec<Value>) -> Statement {
    let text = match backend {
        DbBackend::Postgres => {
            let mut numbered = String::with_capacity(text.len() + 16);
            let mut n = 0;
            for ch in text.chars() {
                if ch == '?' {
                    n += 1;
                    numbered.push('$');
                    numbered.push_str(&n.to_string());
                } else {
                    numbered.push(ch);
                }
            }
            numbered
        }
        _ => text.to_owned(),
    };
    Statement::from_sql_and_values(backend, text, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_for_postgres() {
        let stmt = statement(DbBackend::Postgres, "a = ? AND b IN (?, ?)", vec![1.into(), 2.into(), 3.into()]);
        assert_eq!(stmt.sql, "a = $1 AND b IN ($2, $3)");
        let stmt = statement(DbBackend::Sqlite, "a = ?", vec![1.into()]);
        assert_eq!(stmt.sql, "a = ?");
    }

    #[test]
    fn combines_conditions() {
        let mut sql = Sql::default();
        sql.and(Sql::new("a = ?", [1.into()]));
        sql.and(Sql::is_in("b", [2.into(), 3.into()]));
        sql.and(Sql::default());
        assert_eq!(sql.text, "(a = ?) AND (b IN (?, ?))");
        assert_eq!(sql.values.len(), 3);
        // No values: a condition both backends accept that keeps nothing.
        let none = Sql::is_in("b", []);
        assert_eq!((none.text.as_str(), none.values.len()), ("1 = 0", 0));
    }
}
