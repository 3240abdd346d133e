//! Checks shared by the tasks' `validate` steps; each error names the field.

use std::ops::RangeInclusive;

use super::error::{Result, TaskError};
use crate::engine::sampler::SamplingParams;
pub use crate::limits::{MAX_TEXT_BYTES, MAX_TOKENS, SAMPLES, TEMPERATURE};
use crate::prompt::Language;

/// Sampling settings every task request carries; `None` takes the task's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingRequest {
    /// 0 (greedy) to 2.
    pub temperature: Option<f32>,
    /// Seed of the sampler; the same seed gives the same text.
    pub seed: Option<u64>,
    /// Output budget of each generation call, in tokens.
    pub max_tokens: Option<usize>,
}

/// [`SamplingRequest`] after validation: the values the engine will get.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSampling {
    /// The sampler settings (temperature and seed set).
    pub params: SamplingParams,
    /// The output budget, when the request set one (else the task's own).
    pub max_tokens: Option<usize>,
}

impl SamplingRequest {
    /// Checks the fields, filling `default_temperature` when none is given.
    pub fn validate(&self, default_temperature: f32) -> Result<ValidSampling> {
        let temperature = self.temperature.unwrap_or(default_temperature);
        if !(temperature.is_finite() && TEMPERATURE.contains(&temperature)) {
            return Err(TaskError::invalid(
                "temperature",
                format!("must be between 0 and 2, got {temperature}"),
            ));
        }
        if let Some(n) = self.max_tokens {
            in_range("max_tokens", n, &MAX_TOKENS)?;
        }
        Ok(ValidSampling {
            params: SamplingParams {
                temperature,
                seed: self.seed.unwrap_or(0),
                ..SamplingParams::default()
            },
            max_tokens: self.max_tokens,
        })
    }
}

/// `text` must hold something besides whitespace and invisible format characters
/// (zero-width, bidi controls) and be at most [`MAX_TEXT_BYTES`].
pub fn non_empty_text(field: &str, text: &str) -> Result<()> {
    text_size(field, text)?;
    if text
        .chars()
        .all(|c| c.is_whitespace() || crate::text::normalize::is_invisible(c))
    {
        return Err(TaskError::invalid(
            field,
            "is empty or only whitespace and invisible characters",
        ));
    }
    Ok(())
}

/// `text` must be at most [`MAX_TEXT_BYTES`].
pub fn text_size(field: &str, text: &str) -> Result<()> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(TaskError::invalid(
            field,
            format!(
                "is {} bytes, more than the limit of {MAX_TEXT_BYTES}",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// `value` must lie in `range`.
pub fn in_range(field: &str, value: usize, range: &RangeInclusive<usize>) -> Result<usize> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(TaskError::invalid(
            field,
            format!(
                "must be between {} and {}, got {value}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// "he" or "en" (case-insensitive, surrounding whitespace ignored).
pub fn language(field: &str, code: &str) -> Result<Language> {
    Language::parse(code.trim().to_ascii_lowercase().as_str())
        .ok_or_else(|| TaskError::invalid(field, format!("must be `he` or `en`, got `{code}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_only_text_is_empty_and_size_is_checked_first() {
        for text in ["", "  \n", "\u{200B}\u{200F}", " \u{2067}\u{FEFF}\u{00AD} "] {
            let err = non_empty_text("text", text).unwrap_err().to_string();
            assert!(
                err.contains("`text`") && err.contains("empty"),
                "{text:?}: {err}"
            );
        }
        assert!(non_empty_text("text", "\u{200F}שלום").is_ok());
        let huge = " ".repeat(MAX_TEXT_BYTES + 1);
        let err = non_empty_text("text", &huge).unwrap_err().to_string();
        assert!(err.contains("more than the limit"), "{err}");
    }

    #[test]
    fn temperature_outside_0_to_2_names_the_field() {
        for t in [-0.1, 2.01, f32::NAN] {
            let req = SamplingRequest {
                temperature: Some(t),
                ..Default::default()
            };
            assert_eq!(req.validate(0.2).unwrap_err().field(), Some("temperature"));
        }
        let ok = SamplingRequest::default().validate(0.7).unwrap();
        assert_eq!(ok.params.temperature, 0.7);
    }

    #[test]
    fn max_tokens_zero_is_rejected() {
        let req = SamplingRequest {
            max_tokens: Some(0),
            ..Default::default()
        };
        assert_eq!(req.validate(0.0).unwrap_err().field(), Some("max_tokens"));
    }

    #[test]
    fn whitespace_only_text_and_bad_language_are_rejected() {
        assert_eq!(
            non_empty_text("text", " \n\u{a0}\t").unwrap_err().field(),
            Some("text")
        );
        assert_eq!(language("source_language", " EN ").unwrap(), Language::En);
        assert_eq!(
            language("target_language", "fr").unwrap_err().field(),
            Some("target_language")
        );
    }
}
