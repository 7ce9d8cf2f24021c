//! The subject fields of a certificate besides its name, each checked by its rule.

/// Optional subject fields besides the common name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubjectFields {
    /// CN, for the root and the Client (Server certificates use the machine name).
    pub common_name: Option<String>,
    /// O
    pub organization: Option<String>,
    /// OU
    pub organizational_unit: Option<String>,
    /// L
    pub locality: Option<String>,
    /// ST
    pub state: Option<String>,
    /// C (two letters)
    pub country: Option<String>,
}

impl SubjectFields {
    /// Checks every field against its rule (the common-name rule for `common_name`, the
    /// subject-text rule for the others); the error names the field and the problem.
    pub fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        if let Some(cn) = &self.common_name {
            crate::domain::name::CommonName::parse(cn).map_err(|e| {
                (
                    "common_name",
                    format!("{} (the common-name rule)", e.message()),
                )
            })?;
        }
        let others = [
            ("organization", &self.organization),
            ("organizational_unit", &self.organizational_unit),
            ("locality", &self.locality),
            ("state", &self.state),
            ("country", &self.country),
        ];
        for (field, value) in others {
            if let Some(value) = value {
                crate::domain::name::check_subject_text(value).map_err(|problem| {
                    (
                        field,
                        format!("{problem} (the rule: 1 to 64 printable characters)"),
                    )
                })?;
            }
        }
        Ok(())
    }
}
