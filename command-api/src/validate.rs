//! Field checks that collect every problem of a body before answering 422.

use crate::error::{ApiError, FieldProblem};

#[derive(Default)]
pub struct Problems(Vec<FieldProblem>);

impl Problems {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldProblem::new(field, message));
    }

    /// Non-blank text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be blank");
        } else if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    pub fn max_len(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    /// Integer cents, 0 up to a trillion.
    pub fn price(&mut self, field: &str, cents: i64) {
        if !(0..=1_000_000_000_000).contains(&cents) {
            self.add(field, "must be between 0 and 1000000000000 cents");
        }
    }

    /// A 3-letter uppercase ISO 4217 code.
    pub fn currency(&mut self, field: &str, code: &str) {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            self.add(
                field,
                "must be a 3-letter uppercase ISO 4217 code, e.g. EUR",
            );
        }
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let detail = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Err(ApiError::rejected(detail, self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_a_body_is_listed() {
        let mut p = Problems::default();
        p.text("name", "  ", 10);
        p.currency("currency", "eur");
        p.price("price_cents", -1);
        let body = serde_json::to_value(p.into_result().unwrap_err().problem()).unwrap();
        let fields: Vec<_> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].clone())
            .collect();
        assert_eq!(fields, ["name", "currency", "price_cents"]);
    }
}
