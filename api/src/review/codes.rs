//! Coding schemes: an organisation's own behaviour codes, beside the built-in labels.
//!
//! The rules:
//! - The built-in expression and behaviour labels are every organisation's default scheme.
//!   An admin adds codes: a name (unique in the organisation, none of the built-in labels, in
//!   any case), a kind — `STATE` (an interval with a duration) or `POINT` (an instant) — an
//!   optional mutually exclusive group, and a description. Codes are retired, never deleted:
//!   intervals coded with one keep it, new ones may not use it.
//! - A STATE interval has `0 <= start < end`; a POINT interval `start == end`; both within the
//!   video.
//! - One person is in at most one state of an exclusive group at a time: a STATE interval
//!   that overlaps another of the same person and group is refused, naming it. POINT codes of
//!   a group are only grouped.
//! - A coded interval is its coder's (and admins') to change; rejecting it takes it back
//!   (deletes it: the audit log keeps who and when).

use entity::{behaviour_code, coded_interval, enums::CodeKind};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Characters of a code's name and group at most, and of its description.
pub const MAX_NAME_CHARS: usize = 60;
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;
/// Codes an organisation defines at most (retired ones included).
pub const MAX_CODES: u64 = 500;
/// Coded intervals per session at most.
pub const MAX_CODED_PER_SESSION: u64 = 20_000;

/// A name or group as stored: trimmed, 1 to [`MAX_NAME_CHARS`] printable characters (no
/// control or invisible formatting characters: names must look like what they are), not
/// starting like a spreadsheet formula (names go into CSV and TSV files as they are).
pub fn check_name(what: &str, name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(invisible) {
        return Err(ApiError::bad_input(format!(
            "a code's {what} has 1 to {MAX_NAME_CHARS} characters, none of them control or formatting characters"
        )));
    }
    if name.starts_with(['=', '+', '-', '@']) {
        return Err(ApiError::bad_input(format!("a code's {what} may not start with =, +, - or @")));
    }
    Ok(name.to_owned())
}

/// Control, formatting (zero-width spaces and joiners, direction overrides, the byte-order
/// mark…), private-use and unassigned characters: Unicode's "Other" categories, which make
/// names that do not look like what they are.
fn invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
    c.general_category_group() == GeneralCategoryGroup::Other
        // Spaces other than the plain one, and line and paragraph separators, look alike too.
        || (c.general_category_group() == GeneralCategoryGroup::Separator && c != ' ')
        // Hangul fillers are letters that show nothing.
        || matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
}

/// A new code's name: [`check_name`], and none of the built-in labels (an interval's label
/// must say which it is).
pub fn check_code_name(name: &str) -> ApiResult<String> {
    let name = check_name("name", name)?;
    if builtin_labels().any(|label| label.eq_ignore_ascii_case(&name)) {
        return Err(ApiError::bad_input(format!("`{name}` is a built-in label: a code needs a name of its own")));
    }
    Ok(name)
}

/// The built-in labels (the default scheme), as the API spells them.
pub fn builtin_labels() -> impl Iterator<Item = &'static str> {
    use entity::enums::{Behaviour, Emotion};
    use sea_orm::Iterable;
    Emotion::iter().map(Emotion::as_str).chain(Behaviour::iter().map(Behaviour::as_str))
}

/// An interval's boundaries for a code of `kind` (see the module's rules).
pub fn check_span(kind: CodeKind, start_ms: i64, end_ms: i64, video_ms: Option<i64>) -> ApiResult<()> {
    match kind {
        CodeKind::State => super::check_bounds(start_ms, end_ms, video_ms),
        CodeKind::Point if start_ms != end_ms => {
            Err(ApiError::bad_input(format!("a POINT code marks an instant: endMs must equal startMs ({start_ms})")))
        }
        CodeKind::Point if start_ms < 0 || video_ms.is_some_and(|video_ms| start_ms > video_ms) => {
            Err(ApiError::bad_input(format!("startMs {start_ms} is not within the video")))
        }
        CodeKind::Point => Ok(()),
    }
}

/// The organisation's code named `name`, if it may be used for a new interval.
pub async fn usable_code(
    db: &impl ConnectionTrait,
    organisation_id: Uuid,
    name: &str,
) -> ApiResult<behaviour_code::Model> {
    let code = behaviour_code::Entity::find()
        .filter(behaviour_code::Column::OrganisationId.eq(organisation_id))
        .filter(behaviour_code::Column::NameKey.eq(name_key(name)))
        .one(db)
        .await?
        .ok_or_else(|| {
            ApiError::bad_input(format!(
                "`{name}` is neither a built-in label nor a code of the organisation's coding scheme (codingScheme)"
            ))
        })?;
    not_retired(&code)?;
    Ok(code)
}

/// `code` as it is inside `txn`, once the session row is locked: a code retired meanwhile is
/// refused like one retired before.
pub async fn still_usable(
    txn: &impl ConnectionTrait,
    code: &behaviour_code::Model,
) -> ApiResult<behaviour_code::Model> {
    let mut query = behaviour_code::Entity::find_by_id(code.id);
    // Shared-locked on PostgreSQL until the coding commits, so a retirement waits for it (SQLite
    // serialises write transactions).
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_shared();
    }
    let code = query.one(txn).await?.ok_or(ApiError::NotFound)?;
    not_retired(&code)?;
    Ok(code)
}

fn not_retired(code: &behaviour_code::Model) -> ApiResult<()> {
    match code.retired_at {
        Some(_) => {
            Err(ApiError::bad_input(format!("the code `{}` is retired: new intervals may not use it", code.name)))
        }
        None => Ok(()),
    }
}

/// What names are compared by: one code per name in any case and any Unicode spelling ("Play"
/// is "play", a full-width "ｐｌａｙ" and a decomposed "café" are the plain ones).
pub fn name_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.trim().nfkc().collect::<String>().to_lowercase()
}

/// A STATE interval of one person, for the exclusivity rule.
#[derive(Clone, Copy, Debug)]
pub struct State<'a> {
    pub id: Uuid,
    pub group: Option<&'a str>,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The first of `others` that `candidate` may not overlap: same exclusive group, overlapping
/// time, another interval.
pub fn exclusive_conflict<'a>(candidate: State<'_>, others: impl IntoIterator<Item = State<'a>>) -> Option<State<'a>> {
    let group = candidate.group?;
    others.into_iter().find(|other| {
        other.id != candidate.id
            && other.group == Some(group)
            && other.start_ms < candidate.end_ms
            && candidate.start_ms < other.end_ms
    })
}

/// Refuses `interval` (coded with `code`) if it breaks its group's exclusivity among the
/// person's other coded states. Call inside the transaction that writes it, after the
/// session row is locked (`sessions::bump_results_version`), so racing codings can't both pass.
pub async fn check_exclusive(
    txn: &impl ConnectionTrait,
    code: &behaviour_code::Model,
    interval: &coded_interval::Model,
) -> ApiResult<()> {
    if code.kind != CodeKind::State || code.exclusive_group.is_none() {
        return Ok(());
    }
    let others = coded_interval::Entity::find()
        .find_also_related(behaviour_code::Entity)
        .filter(coded_interval::Column::ObjectId.eq(interval.object_id))
        .filter(coded_interval::Column::Id.ne(interval.id))
        .filter(behaviour_code::Column::ExclusiveGroup.eq(code.exclusive_group.clone()))
        .filter(behaviour_code::Column::Kind.eq(CodeKind::State))
        .all(txn)
        .await?;
    let states = others.iter().filter_map(|(row, code)| {
        let code = code.as_ref()?;
        Some((
            State { id: row.id, group: code.exclusive_group.as_deref(), start_ms: row.start_ms, end_ms: row.end_ms },
            code,
        ))
    });
    let candidate = State {
        id: interval.id,
        group: code.exclusive_group.as_deref(),
        start_ms: interval.start_ms,
        end_ms: interval.end_ms,
    };
    let (states, codes): (Vec<_>, Vec<_>) = states.unzip();
    if let Some(conflict) = exclusive_conflict(candidate, states.iter().copied()) {
        let other = states.iter().position(|state| state.id == conflict.id).map(|index| codes[index]);
        return Err(ApiError::bad_input(format!(
            "this person is already `{}` from {} to {} ms: the exclusive group `{}` allows one of its states at a time",
            other.map_or("", |other| other.name.as_str()),
            conflict.start_ms,
            conflict.end_ms,
            code.exclusive_group.as_deref().unwrap_or_default(),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: u128, group: Option<&'static str>, start_ms: i64, end_ms: i64) -> State<'static> {
        State { id: Uuid::from_u128(id), group, start_ms, end_ms }
    }

    #[test]
    fn states_of_one_exclusive_group_do_not_overlap() {
        let others = [state(1, Some("play"), 0, 1_000), state(2, Some("talk"), 500, 2_000)];
        // Overlapping a state of its own group: refused.
        assert_eq!(exclusive_conflict(state(3, Some("play"), 999, 1_500), others).map(|s| s.id), Some(others[0].id));
        // Touching is not overlapping (ends are exclusive); other groups and no group don't count.
        assert!(exclusive_conflict(state(3, Some("play"), 1_000, 1_500), others).is_none());
        assert!(exclusive_conflict(state(3, Some("rest"), 0, 5_000), others).is_none());
        assert!(exclusive_conflict(state(3, None, 0, 5_000), others).is_none());
        // An interval never conflicts with itself (a change of its own boundaries).
        assert!(exclusive_conflict(state(1, Some("play"), 0, 900), others).is_none());
    }

    #[test]
    fn spans_follow_the_code_kind() {
        assert!(check_span(CodeKind::State, 0, 10, Some(100)).is_ok());
        assert!(check_span(CodeKind::State, 10, 10, Some(100)).is_err());
        assert!(check_span(CodeKind::Point, 10, 10, Some(100)).is_ok());
        assert!(check_span(CodeKind::Point, 10, 11, Some(100)).is_err());
        assert!(check_span(CodeKind::Point, 101, 101, Some(100)).is_err());
        assert!(check_span(CodeKind::Point, -1, -1, None).is_err());
    }

    #[test]
    fn names_are_checked_and_built_in_labels_are_taken() {
        assert_eq!(check_code_name("  eye contact ").unwrap(), "eye contact");
        assert!(check_code_name("happy").is_err() && check_code_name("HAND_RAISED").is_err());
        assert!(check_code_name("").is_err() && check_code_name("a\tb").is_err());
        assert!(check_code_name("=HYPERLINK(\"x\")").is_err() && check_name("group", "@play").is_err());
        assert!(check_code_name("play\u{202E}yalp").is_err() && check_code_name("pl\u{200B}ay").is_err());
        assert_eq!(name_key(" Playing Alone "), name_key("playing alone"));
        assert_eq!(name_key("ｐｌａｙ"), name_key("play"));
        assert_eq!(name_key("cafe\u{301}"), name_key("café"));
        for name in ["play\u{00A0}alone", "play\u{2028}alone", "play\u{3164}", "play\u{3000}alone"] {
            assert!(check_code_name(name).is_err(), "{name:?}");
        }
        assert!(check_code_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }
}
