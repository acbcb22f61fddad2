//! Canonical, bounded CBOR: the only way PeerHost turns wire types into bytes and back.
//!
//! Every wire type is a serde struct encoded in serde_cbor's *packed* form: a struct is a CBOR
//! map whose keys are the field indices `0, 1, 2, …` in declaration order. Together with
//! serde_cbor's definite lengths and shortest integer encodings this makes the encoding of a
//! value unique, so hashes and signatures over encoded bytes are well defined.
//!
//! Decoding untrusted bytes is bounded and strict:
//! - the input may be at most [`Wire::MAX_BYTES`] long (checked before any parsing);
//! - nesting is bounded by the types themselves (`deny_unknown_fields` everywhere, so no
//!   unknown subtree is ever walked) and by serde_cbor's recursion limit;
//! - trailing bytes after the value are rejected;
//! - the value is re-encoded and must equal the input byte for byte, which rejects every
//!   non-canonical form (indefinite lengths, long integer forms, keys out of order, tags,
//!   floats where integers belong, …);
//! - finally the type's own [`Wire::validate`] checks semantic invariants.

use serde::{Serialize, de::DeserializeOwned};

/// A type that travels on the wire or is hashed or signed.
pub trait Wire: Serialize + DeserializeOwned {
    /// The largest encoding accepted by [`decode`]. Chosen per type; see each impl.
    const MAX_BYTES: usize;

    /// Checks invariants that the type system does not (sorted lists, name syntax, …).
    ///
    /// # Errors
    ///
    /// Returns [`Invalid`] naming the first field that breaks an invariant.
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
}

/// A decoded value breaks a semantic rule of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct Invalid {
    /// The field (or path) at fault.
    pub field: &'static str,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl Invalid {
    /// Builds an [`Invalid`] for `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// Why untrusted bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the type allows; nothing was parsed.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The type's limit ([`Wire::MAX_BYTES`]).
        max: usize,
    },
    /// The bytes are not CBOR of the expected shape (syntax, types, missing fields, depth).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A complete value was followed by more bytes.
    #[error("trailing bytes after the message")]
    TrailingBytes,
    /// The value is well formed but not in the one canonical encoding.
    #[error("message is not canonically encoded")]
    NonCanonical,
    /// The value decoded but breaks an invariant of its type.
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

/// Encodes `value` canonically.
pub fn encode<T: Wire>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_into(value, &mut out);
    out
}

/// Appends the canonical encoding of `value` to `out`.
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    let writer = serde_cbor::ser::IoWrite::new(out);
    let mut ser = serde_cbor::Serializer::new(writer).packed_format();
    // Writing into a Vec cannot fail and every wire type is serializable by construction
    // (no maps with non-string keys, no u128 beyond u64), so an error here is a bug.
    value.serialize(&mut ser).expect("wire types always encode");
}

/// Decodes untrusted `bytes` as a `T`, enforcing size, canonical form and `T`'s invariants.
///
/// # Errors
///
/// Every way the input can be wrong maps to one [`DecodeError`] variant; see the module docs.
pub fn decode<T: Wire>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > T::MAX_BYTES {
        return Err(DecodeError::TooLarge { len: bytes.len(), max: T::MAX_BYTES });
    }
    let mut de = serde_cbor::Deserializer::from_slice(bytes).disable_legacy_enums();
    let value = T::deserialize(&mut de).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    de.end().map_err(|_| DecodeError::TrailingBytes)?;
    let mut again = Vec::with_capacity(bytes.len());
    encode_into(&value, &mut again);
    if again != bytes {
        return Err(DecodeError::NonCanonical);
    }
    value.validate()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: u64,
        #[serde(with = "serde_bytes")]
        b: Vec<u8>,
    }

    impl Wire for Pair {
        const MAX_BYTES: usize = 64;
        fn validate(&self) -> Result<(), Invalid> {
            if self.a == 7 {
                return Err(Invalid::new("a", "seven is not allowed"));
            }
            Ok(())
        }
    }

    #[test]
    fn packed_struct_is_an_int_keyed_map() {
        let bytes = encode(&Pair { a: 1, b: vec![0xff] });
        // map(2) { 0: 1, 1: h'ff' }
        assert_eq!(bytes, [0xa2, 0x00, 0x01, 0x01, 0x41, 0xff]);
        assert_eq!(decode::<Pair>(&bytes).unwrap(), Pair { a: 1, b: vec![0xff] });
    }

    #[test]
    fn rejects_oversized_input_before_parsing() {
        let err = decode::<Pair>(&[0u8; 65]).unwrap_err();
        assert_eq!(err, DecodeError::TooLarge { len: 65, max: 64 });
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = encode(&Pair { a: 1, b: vec![] });
        bytes.push(0x00);
        assert_eq!(decode::<Pair>(&bytes).unwrap_err(), DecodeError::TrailingBytes);
    }

    #[test]
    fn rejects_non_minimal_integer() {
        // a = 1 written as a one-byte-argument integer (0x18 0x01).
        let bytes = [0xa2, 0x00, 0x18, 0x01, 0x01, 0x41, 0xff];
        assert_eq!(decode::<Pair>(&bytes).unwrap_err(), DecodeError::NonCanonical);
    }

    #[test]
    fn rejects_keys_out_of_order() {
        let bytes = [0xa2, 0x01, 0x41, 0xff, 0x00, 0x01];
        assert_eq!(decode::<Pair>(&bytes).unwrap_err(), DecodeError::NonCanonical);
    }

    #[test]
    fn rejects_indefinite_lengths() {
        // map(*) { 0: 1, 1: h'ff' } break
        let bytes = [0xbf, 0x00, 0x01, 0x01, 0x41, 0xff, 0xff];
        assert_eq!(decode::<Pair>(&bytes).unwrap_err(), DecodeError::NonCanonical);
    }

    #[test]
    fn rejects_unknown_fields_and_wrong_types() {
        let unknown = [0xa3, 0x00, 0x01, 0x01, 0x41, 0xff, 0x02, 0x00];
        assert!(matches!(decode::<Pair>(&unknown), Err(DecodeError::Malformed(_))));
        let wrong_type = [0xa2, 0x00, 0x61, 0x78, 0x01, 0x41, 0xff];
        assert!(matches!(decode::<Pair>(&wrong_type), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn rejects_deep_nesting_without_overflowing_the_stack() {
        let mut bytes = vec![0xa2, 0x00];
        bytes.extend(std::iter::repeat_n(0x81, 60)); // array(1) × 60, within MAX_BYTES
        assert!(matches!(decode::<Pair>(&bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn runs_type_validation_last() {
        let bytes = encode(&Pair { a: 7, b: vec![] });
        assert!(matches!(decode::<Pair>(&bytes), Err(DecodeError::Invalid(_))));
    }
}
