//! JSON for the public API's enum fields.
//!
//! prost stores an enum field as its `i32`; the REST API (crate `varsel-http`) shows it by name
//! (`"viewer"`, `"sms"`), as the enum's OpenAPI schema says. `build.rs` points every such field
//! of `varsel.v1` at these functions.

/// One enum field (`Role role = 3;`).
pub mod enum_value {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the value's name; a number this build does not know is written as the number.
    pub fn serialize<E, S>(value: &i32, s: S) -> Result<S::Ok, S::Error>
    where
        E: TryFrom<i32> + Serialize,
        S: Serializer,
    {
        match E::try_from(*value) {
            Ok(e) => e.serialize(s),
            Err(_) => s.serialize_i32(*value),
        }
    }

    /// Reads a name; anything else is refused with the names allowed.
    pub fn deserialize<'de, E, D>(d: D) -> Result<i32, D::Error>
    where
        E: Deserialize<'de> + Into<i32>,
        D: Deserializer<'de>,
    {
        E::deserialize(d).map(Into::into)
    }
}

/// A repeated enum field (`repeated Channel channels = 1;`).
pub mod enums {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the values' names.
    pub fn serialize<E, S>(values: &[i32], s: S) -> Result<S::Ok, S::Error>
    where
        E: TryFrom<i32> + Serialize,
        S: Serializer,
    {
        let mut seq = s.serialize_seq(Some(values.len()))?;
        for v in values {
            match E::try_from(*v) {
                Ok(e) => seq.serialize_element(&e)?,
                Err(_) => seq.serialize_element(v)?,
            }
        }
        seq.end()
    }

    /// Reads a list of names.
    pub fn deserialize<'de, E, D>(d: D) -> Result<Vec<i32>, D::Error>
    where
        E: Deserialize<'de> + Into<i32>,
        D: Deserializer<'de>,
    {
        Vec::<E>::deserialize(d).map(|v| v.into_iter().map(Into::into).collect())
    }
}
