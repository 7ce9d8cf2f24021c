//! Named checks of a key's attributes, for `qvca doctor` and `status`: each says whether the
//! attribute is as a CA root key's should be, and what to do if not.
//!
//! A root key should be a private token object that is sensitive and not extractable, has
//! always been so, may sign, and may do nothing else (no decrypt, unwrap or derive).

use crate::error::Result;
use crate::pki::pkcs11::from_pkcs11;
use crate::pki::pkcs11::token::{KeyObject, UserSession};
use cryptoki::object::{Attribute, AttributeType};
use std::fmt;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// As it should be.
    Ok,
    /// Acceptable but worth knowing (e.g. a key imported from a file was once extractable).
    Warning,
    /// Wrong for a CA root key: act on the advice.
    Problem,
    /// The token does not report this attribute.
    NotReported,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Problem => "problem",
            Self::NotReported => "not reported",
        })
    }
}

/// The outcome of one named check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check's stable name, e.g. `sensitive` or `decrypt-not-allowed`.
    pub check: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found, e.g. "CKA_SENSITIVE is true".
    pub detail: String,
    /// What to do when the status is not [`Status::Ok`] (empty when it is).
    pub advice: &'static str,
}

/// One rule: the attribute, the value a root key should have, the check's name, and the
/// status and advice when the value differs.
struct Rule {
    attribute: AttributeType,
    name: &'static str,
    check: &'static str,
    wanted: bool,
    otherwise: Status,
    advice: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        attribute: AttributeType::Token,
        name: "CKA_TOKEN",
        check: "token-object",
        wanted: true,
        otherwise: Status::Problem,
        advice: "the key is a session object and disappears when the session closes: generate the root key again as a token object",
    },
    Rule {
        attribute: AttributeType::Private,
        name: "CKA_PRIVATE",
        check: "private-object",
        wanted: true,
        otherwise: Status::Problem,
        advice: "the key can be used without logging in: recreate it with CKA_PRIVATE=true, or restrict access to the token",
    },
    Rule {
        attribute: AttributeType::Sensitive,
        name: "CKA_SENSITIVE",
        check: "sensitive",
        wanted: true,
        otherwise: Status::Problem,
        advice: "the private key can be read out of the token in plain text: set CKA_SENSITIVE=true (it can only be switched on) or generate a new root key in the token",
    },
    Rule {
        attribute: AttributeType::Extractable,
        name: "CKA_EXTRACTABLE",
        check: "not-extractable",
        wanted: false,
        otherwise: Status::Problem,
        advice: "the private key can be wrapped and taken out of the token: set CKA_EXTRACTABLE=false (it can only be switched off); back the key up with the HSM vendor's own backup or cloning instead",
    },
    Rule {
        attribute: AttributeType::NeverExtractable,
        name: "CKA_NEVER_EXTRACTABLE",
        check: "never-extractable",
        wanted: true,
        otherwise: Status::Warning,
        advice: "the key was extractable at some time, or was imported (qvca hsm migrate): make sure no copy of it is left outside the token, e.g. the old key file and its backups",
    },
    Rule {
        attribute: AttributeType::AlwaysSensitive,
        name: "CKA_ALWAYS_SENSITIVE",
        check: "always-sensitive",
        wanted: true,
        otherwise: Status::Warning,
        advice: "the key was not sensitive at some time, or was imported (qvca hsm migrate): make sure no copy of it is left outside the token, e.g. the old key file and its backups",
    },
    Rule {
        attribute: AttributeType::Sign,
        name: "CKA_SIGN",
        check: "sign-allowed",
        wanted: true,
        otherwise: Status::Problem,
        advice: "the key may not sign, so qvca cannot issue with it: set CKA_SIGN=true with the token's tool",
    },
    Rule {
        attribute: AttributeType::Decrypt,
        name: "CKA_DECRYPT",
        check: "decrypt-not-allowed",
        wanted: false,
        otherwise: Status::Warning,
        advice: "the root key may also decrypt; a CA key should only sign: set CKA_DECRYPT=false with the token's tool",
    },
    Rule {
        attribute: AttributeType::Unwrap,
        name: "CKA_UNWRAP",
        check: "unwrap-not-allowed",
        wanted: false,
        otherwise: Status::Warning,
        advice: "the root key may also unwrap keys; a CA key should only sign: set CKA_UNWRAP=false with the token's tool",
    },
    Rule {
        attribute: AttributeType::Derive,
        name: "CKA_DERIVE",
        check: "derive-not-allowed",
        wanted: false,
        otherwise: Status::Warning,
        advice: "the root key may also derive keys (ECDH); a CA key should only sign: set CKA_DERIVE=false with the token's tool",
    },
];

fn flag(attribute: &Attribute) -> Option<(AttributeType, bool)> {
    Some(match attribute {
        Attribute::Token(v) => (AttributeType::Token, *v),
        Attribute::Private(v) => (AttributeType::Private, *v),
        Attribute::Sensitive(v) => (AttributeType::Sensitive, *v),
        Attribute::Extractable(v) => (AttributeType::Extractable, *v),
        Attribute::NeverExtractable(v) => (AttributeType::NeverExtractable, *v),
        Attribute::AlwaysSensitive(v) => (AttributeType::AlwaysSensitive, *v),
        Attribute::Sign(v) => (AttributeType::Sign, *v),
        Attribute::Decrypt(v) => (AttributeType::Decrypt, *v),
        Attribute::Unwrap(v) => (AttributeType::Unwrap, *v),
        Attribute::Derive(v) => (AttributeType::Derive, *v),
        _ => return None,
    })
}

/// Applies the rules to the attribute values a token reported.
fn evaluate(reported: &[(AttributeType, bool)]) -> Vec<Finding> {
    RULES
        .iter()
        .map(
            |rule| match reported.iter().find(|(a, _)| *a == rule.attribute) {
                None => Finding {
                    check: rule.check,
                    status: Status::NotReported,
                    detail: format!("the token does not report {}", rule.name),
                    advice: "check the attribute with the HSM vendor's tool",
                },
                Some((_, value)) => {
                    let ok = *value == rule.wanted;
                    Finding {
                        check: rule.check,
                        status: if ok { Status::Ok } else { rule.otherwise },
                        detail: format!("{} is {value}", rule.name),
                        advice: if ok { "" } else { rule.advice },
                    }
                }
            },
        )
        .collect()
}

impl UserSession {
    /// Checks the attributes of `key` against what a CA root key's should be; one finding per
    /// rule, in a fixed order.
    pub fn check_key_attributes(&self, key: &KeyObject) -> Result<Vec<Finding>> {
        let place = self.place_for(&format!("label {:?}", key.label()));
        let types: Vec<AttributeType> = RULES.iter().map(|r| r.attribute).collect();
        let attributes = self
            .session()
            .get_attributes(key.handle, &types)
            .map_err(|e| from_pkcs11("reading the key's attributes", &place, &e))?;
        let reported: Vec<(AttributeType, bool)> = attributes.iter().filter_map(flag).collect();
        Ok(evaluate(&reported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ideal() -> Vec<(AttributeType, bool)> {
        RULES.iter().map(|r| (r.attribute, r.wanted)).collect()
    }

    #[test]
    fn an_ideal_key_passes_every_check_without_advice() {
        let findings = evaluate(&ideal());
        assert_eq!(findings.len(), RULES.len());
        for f in findings {
            assert_eq!(f.status, Status::Ok, "{f:?}");
            assert!(f.advice.is_empty());
        }
    }

    #[test]
    fn an_extractable_key_is_a_problem_with_advice() {
        let mut attrs = ideal();
        for (a, v) in &mut attrs {
            if *a == AttributeType::Extractable {
                *v = true;
            }
        }
        let findings = evaluate(&attrs);
        let f = findings
            .iter()
            .find(|f| f.check == "not-extractable")
            .expect("check present");
        assert_eq!(f.status, Status::Problem);
        assert_eq!(f.detail, "CKA_EXTRACTABLE is true");
        assert!(f.advice.contains("CKA_EXTRACTABLE=false"));
    }

    #[test]
    fn attributes_the_token_hides_are_reported_as_such() {
        let findings = evaluate(&[]);
        assert!(findings.iter().all(|f| f.status == Status::NotReported));
    }

    #[test]
    fn check_names_are_unique() {
        let mut names: Vec<&str> = RULES.iter().map(|r| r.check).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
    }
}
