//! Writing a translation to a file: the input's own format rebuilt where Sofer can, text
//! otherwise; never a half-written file.

use std::path::Path;

use anyhow::Context;
use sofer::documents::{self, Format};
use sofer::tasks::Translation;

use super::Input;

/// Writes `translation` of `input` to `path`: the input rebuilt in its format when `path`
/// has that format's extension and the format can be written (DOCX, HTML), the plain
/// translated text when `path` is a text file or has no known extension.
pub fn write_translation(
    input: &Input,
    translation: &Translation,
    path: &Path,
) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let wanted = documents::from_extension(&name).unwrap_or(Format::Text);
    let source = input.document.format;
    let bytes = if wanted == Format::Text {
        translation.text.clone().into_bytes()
    } else if wanted == source && documents::writable(source) {
        let lang = translation.target_language.code();
        let direction = documents::direction_of_language(lang);
        documents::write_translated(
            source,
            &input.bytes,
            &translation.paragraphs(),
            direction,
            lang,
        )
        .with_context(|| format!("rebuilding {} as {name}", input.name))?
    } else {
        anyhow::bail!(
            "--output {name}: a {} input can be written as {} only {}",
            source.name(),
            wanted.name(),
            if documents::writable(source) {
                format!("as the same format ({}) or as text (.txt)", source.name())
            } else {
                "as text (.txt)".to_string()
            }
        );
    };
    write_whole(path, &bytes)
}

/// Writes `bytes` to `path` by way of `path.partial` and a rename: `path` is there whole or
/// not at all.
pub fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension(format!(
        "{}.partial",
        path.extension()
            .map_or_else(String::new, |e| e.to_string_lossy().into_owned())
    ));
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
