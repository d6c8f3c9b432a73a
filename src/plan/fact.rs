//! Facts: every value the plan hands a template, with where it came from. A template prints a
//! fact as its value; `explain` renders the same template with each fact tagged, so it reads which
//! facts landed on which line instead of guessing from the file's text, and a template the user
//! has overridden is explained as truthfully as a built-in one.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde::{Serialize, Serializer};

use super::OnChange;

/// What kind of origin a value has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OriginKind {
    /// Written as the spec gives it.
    Spec,
    /// Worked out from the spec (from the value at `spec`, when there is one) or from other facts.
    Derived,
    /// What the version the spec names requires.
    VersionRule,
    /// sitewright's own choice, the same for every site, named by its reason.
    Default,
}

/// Where a value comes from: the spec value it was written from, and why it is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) kind: OriginKind,
    /// The JSON pointer of the spec value it comes from.
    pub(crate) spec: Option<String>,
    pub(crate) why: Option<String>,
    /// What `explain` says instead when the spec does not hold the value at `spec`, so that the
    /// value is its schema default: a named default and its reason.
    pub(crate) unless_written: Option<String>,
}

impl Origin {
    /// The value at `pointer`, written as given.
    pub(crate) fn spec(pointer: impl Into<String>) -> Self {
        Self {
            kind: OriginKind::Spec,
            spec: Some(pointer.into()),
            why: None,
            unless_written: None,
        }
    }

    /// Worked out from the value at `pointer` (or from other facts).
    pub(crate) fn derived(pointer: Option<&str>, why: impl Into<String>) -> Self {
        Self {
            kind: OriginKind::Derived,
            spec: pointer.map(str::to_owned),
            why: Some(why.into()),
            unless_written: None,
        }
    }

    /// Required by the version at `pointer`.
    pub(crate) fn version(pointer: &str, why: impl Into<String>) -> Self {
        Self {
            kind: OriginKind::VersionRule,
            spec: Some(pointer.to_owned()),
            why: Some(why.into()),
            unless_written: None,
        }
    }

    /// sitewright's default, and the reason for it.
    pub(crate) fn default(why: impl Into<String>) -> Self {
        Self {
            kind: OriginKind::Default,
            spec: None,
            why: Some(why.into()),
            unless_written: None,
        }
    }

    /// The same origin, explained as a named default with `why` when the spec leaves the value out.
    pub(crate) fn unless_written(mut self, why: impl Into<String>) -> Self {
        self.unless_written = Some(why.into());
        self
    }

    /// The same origin with its reason given.
    pub(crate) fn because(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }
}

/// One fact of a file: the key it sets (a setting, a directive, a Python name), its origin, and
/// for a postgresql.conf setting what a change to it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) key: String,
    pub(crate) origin: Origin,
    pub(crate) effect: Option<OnChange>,
}

/// A fact's number within its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FactId(pub(crate) u32);

/// A value handed to a template, and the number of its record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fact<T> {
    pub(crate) value: T,
    pub(crate) id: FactId,
}

impl<T> Fact<T> {
    /// Another value of the same fact: the fields of one record, written from one origin.
    pub(crate) fn sibling<U>(&self, value: U) -> Fact<U> {
        Fact { value, id: self.id }
    }
}

/// The facts of one file, numbered as they are added.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    records: Vec<Record>,
}

impl Facts {
    /// Records `value` as the fact `key` with its `origin`.
    pub(crate) fn add<T>(&mut self, key: &str, value: T, origin: Origin) -> Fact<T> {
        self.add_record(
            value,
            Record {
                key: key.to_owned(),
                origin,
                effect: None,
            },
        )
    }

    /// Records `value` with a complete record.
    pub(crate) fn add_record<T>(&mut self, value: T, record: Record) -> Fact<T> {
        let id = FactId(u32::try_from(self.records.len()).expect("fewer than 4 billion facts"));
        self.records.push(record);
        Fact { value, id }
    }

    pub(crate) fn into_records(self) -> Vec<Record> {
        self.records
    }
}

impl<T: Serialize> Serialize for Fact<T> {
    /// For a template, the value tagged with its fact; for anything else, the bare value.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if minijinja::value::serializing_for_value() {
            Tagged::wrap(self.id, Value::from(minijinja::value::Serde(&self.value)))
                .serialize(serializer)
        } else {
            self.value.serialize(serializer)
        }
    }
}

/// A fact's value inside a template: behaves as the value (printed, tested, iterated, indexed),
/// and what it yields is tagged with the same fact.
#[derive(Debug)]
pub(crate) struct Tagged {
    pub(crate) id: FactId,
    pub(crate) value: Value,
}

impl Tagged {
    fn wrap(id: FactId, value: Value) -> Value {
        // none stays none, so `is none` and `is not none` read the value.
        if value.is_none() || value.is_undefined() {
            return value;
        }
        Value::from_object(Tagged { id, value })
    }

    /// The fact's id and bare value, when `value` is a fact.
    pub(crate) fn of(value: &Value) -> Option<(FactId, &Value)> {
        value
            .downcast_object_ref::<Tagged>()
            .map(|t| (t.id, &t.value))
    }
}

impl Object for Tagged {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.value.kind() {
            minijinja::value::ValueKind::Seq => ObjectRepr::Seq,
            minijinja::value::ValueKind::Map => ObjectRepr::Map,
            _ => ObjectRepr::Plain,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let item = self.value.get_item(key).ok()?;
        (!item.is_undefined()).then(|| Tagged::wrap(self.id, item))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.value.try_iter() {
            Ok(items) if self.repr() != ObjectRepr::Plain => {
                let id = self.id;
                let items: Vec<Value> = match self.repr() {
                    // A map iterates over its keys, which are layout, not the fact.
                    ObjectRepr::Map => items.collect(),
                    _ => items.map(|item| Tagged::wrap(id, item)).collect(),
                };
                Enumerator::Values(items)
            }
            _ => Enumerator::NonEnumerable,
        }
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.value.is_true()
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}
