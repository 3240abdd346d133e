//! The on-disk index: open or create it, ingest and delete documents, count them.
//!
//! Every ingest and delete commits before it returns, so what it acknowledged survives a
//! crash. tantivy's writer lock is an OS file lock: a killed writer releases it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tantivy::collector::Count;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, Term};

use super::passage::passages;
use super::read_only::ReadOnlyDirectory;
use super::schema::{build_schema, doc_key, AnalyzerSettings, Fields, KEY_SEPARATOR};
use super::{analyzer, Document, RetrievalError};
use crate::text::detect_language;

/// Memory the writer may use for its in-memory segments, per indexing thread.
const WRITER_MEMORY_PER_THREAD: usize = 64 * 1024 * 1024;
/// Most indexing threads a writer uses.
const MAX_WRITER_THREADS: usize = 4;

/// A retrieval index in a directory.
pub struct RetrievalIndex {
    pub(super) dir: PathBuf,
    pub(super) index: Index,
    pub(super) fields: Fields,
    pub(super) settings: AnalyzerSettings,
    pub(super) reader: IndexReader,
    writer: Mutex<Option<IndexWriter>>,
    read_only: bool,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestReport {
    /// Documents written (each replacing any earlier one with its id).
    pub documents: usize,
    /// Passages written.
    pub passages: usize,
}

/// How many documents and passages one collection holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CollectionStats {
    /// The collection key.
    pub collection: String,
    /// Documents (distinct ids).
    pub documents: u64,
    /// Passages of those documents.
    pub passages: u64,
}

/// What an index holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IndexStats {
    /// The index directory.
    pub path: PathBuf,
    /// The analyzer the index was created with.
    pub analyzer: AnalyzerSettings,
    /// Per collection, in name order.
    pub collections: Vec<CollectionStats>,
}

fn check_collection(collection: &str) -> Result<(), RetrievalError> {
    if collection.is_empty() || collection.contains(KEY_SEPARATOR) {
        return Err(RetrievalError::InvalidArgument(format!(
            "collection name {collection:?} must be non-empty and without control U+001F"
        )));
    }
    Ok(())
}

impl RetrievalIndex {
    /// Opens the index in `dir`, creating it with the Hebrew analyzer when there is none.
    pub fn open_or_create(dir: &Path) -> Result<Self, RetrievalError> {
        if dir.join("meta.json").exists() {
            Self::open(dir)
        } else {
            Self::create(dir, &AnalyzerSettings::default())
        }
    }

    /// Creates a new index in `dir` (created if missing) with the given analyzer.
    pub fn create(dir: &Path, settings: &AnalyzerSettings) -> Result<Self, RetrievalError> {
        let tantivy = |e| RetrievalError::tantivy(dir, e);
        let (schema, fields) = build_schema(settings)?;
        std::fs::create_dir_all(dir).map_err(|source| RetrievalError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        settings.save(dir)?;
        let index = Index::create_in_dir(dir, schema).map_err(tantivy)?;
        Self::assemble(dir, index, fields, settings.clone())
    }

    /// Opens the existing index in `dir`.
    pub fn open(dir: &Path) -> Result<Self, RetrievalError> {
        let index = Index::open_in_dir(dir).map_err(|e| RetrievalError::tantivy(dir, e))?;
        Self::open_index(dir, index)
    }

    /// Opens the existing index in `dir` for searching only: nothing is written (no lock
    /// files either), so `dir` may be on a read-only volume that one writer elsewhere
    /// fills. Ingest and delete fail with [`RetrievalError::ReadOnly`].
    pub fn open_read_only(dir: &Path) -> Result<Self, RetrievalError> {
        let tantivy = |e| RetrievalError::tantivy(dir, e);
        let directory = ReadOnlyDirectory::open(dir).map_err(tantivy)?;
        let index = Index::open(directory).map_err(tantivy)?;
        let mut opened = Self::open_index(dir, index)?;
        opened.read_only = true;
        // The writer is elsewhere: pick up its commits as meta.json changes.
        opened.reader = opened
            .index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(|e| RetrievalError::tantivy(dir, e))?;
        Ok(opened)
    }

    /// Whether the index was opened with [`Self::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn open_index(dir: &Path, index: Index) -> Result<Self, RetrievalError> {
        let settings = AnalyzerSettings::load(dir)?;
        let (schema, fields) = build_schema(&settings)?;
        if index.schema() != schema {
            return Err(RetrievalError::NotSoferIndex {
                path: dir.to_path_buf(),
                reason: "its schema does not match this version of Sofer or its recorded analyzer settings; re-create it with `sofer index add`".into(),
            });
        }
        Self::assemble(dir, index, fields, settings)
    }

    fn assemble(
        dir: &Path,
        index: Index,
        fields: Fields,
        settings: AnalyzerSettings,
    ) -> Result<Self, RetrievalError> {
        analyzer::register(index.tokenizers());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| RetrievalError::tantivy(dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            index,
            fields,
            settings,
            reader,
            writer: Mutex::new(None),
            read_only: false,
        })
    }

    /// The index directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The analyzer the index was created with.
    pub fn settings(&self) -> &AnalyzerSettings {
        &self.settings
    }

    pub(super) fn err(&self, source: tantivy::TantivyError) -> RetrievalError {
        RetrievalError::tantivy(&self.dir, source)
    }

    /// The writer, created (and the lock taken) on first use.
    fn writer(&self) -> Result<MutexGuard<'_, Option<IndexWriter>>, RetrievalError> {
        if self.read_only {
            return Err(RetrievalError::ReadOnly(self.dir.clone()));
        }
        let mut guard = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            let threads = std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .clamp(1, MAX_WRITER_THREADS);
            let writer = self
                .index
                .writer_with_num_threads(threads, threads * WRITER_MEMORY_PER_THREAD)
                .map_err(|e| self.err(e))?;
            *guard = Some(writer);
        }
        Ok(guard)
    }

    /// Writes `docs` into `collection`, replacing documents with the same ids, and returns
    /// once they are committed (durable).
    pub fn ingest(
        &self,
        collection: &str,
        docs: &[Document],
    ) -> Result<IngestReport, RetrievalError> {
        Ok(self
            .ingest_all(&[(collection, docs)], &|| true)?
            .unwrap_or_default())
    }

    /// Writes every `(collection, documents)` batch and commits them as one: all or
    /// nothing. `still_wanted` is asked last, before the commit; `false` rolls everything
    /// back and returns `None` (a caller that went away gets nothing half-done).
    pub fn ingest_all(
        &self,
        batches: &[(&str, &[Document])],
        still_wanted: &dyn Fn() -> bool,
    ) -> Result<Option<IngestReport>, RetrievalError> {
        for (collection, _) in batches {
            check_collection(collection)?;
        }
        let mut guard = self.writer()?;
        let Some(writer) = guard.as_mut() else {
            return Err(RetrievalError::InvalidArgument(
                "index writer unavailable".into(),
            ));
        };
        let mut report = IngestReport::default();
        for (collection, docs) in batches {
            if let Err(e) = self.add_documents(writer, collection, docs, &mut report) {
                // Drops this call's uncommitted operations; nothing half-written stays.
                let _ = writer.rollback();
                return Err(e);
            }
        }
        if !still_wanted() {
            writer.rollback().map_err(|e| self.err(e))?;
            return Ok(None);
        }
        self.commit(writer)?;
        Ok(Some(report))
    }

    fn add_documents(
        &self,
        writer: &mut IndexWriter,
        collection: &str,
        docs: &[Document],
        report: &mut IngestReport,
    ) -> Result<(), RetrievalError> {
        let f = &self.fields;
        for document in docs {
            let key = doc_key(collection, &document.id);
            writer.delete_term(Term::from_field_text(f.doc_key, &key));
            for (number, passage) in passages(document).into_iter().enumerate() {
                let language = document
                    .language
                    .unwrap_or_else(|| detect_language(passage.text));
                let mut tantivy_doc = doc!(
                    f.collection => collection,
                    f.doc_key => key.as_str(),
                    f.doc_id => document.id.as_str(),
                    f.passage_id => number as u64,
                    f.paragraph => passage.paragraph as u64,
                    f.char_start => passage.char_start as u64,
                    f.char_end => passage.char_end as u64,
                    f.title => document.title.as_str(),
                    f.text => passage.text,
                    f.language => language.code(),
                    f.source => document.source.as_str(),
                );
                if number == 0 {
                    tantivy_doc.add_text(f.doc_head, collection);
                }
                if let Some(translation) = &document.translation {
                    tantivy_doc.add_text(f.translation, translation);
                }
                for label in &document.labels {
                    tantivy_doc.add_text(f.labels, label);
                }
                if let Some(field) = f.text_exact {
                    tantivy_doc.add_text(field, passage.text);
                }
                if let Some(field) = f.text_gram {
                    tantivy_doc.add_text(field, passage.text);
                }
                writer.add_document(tantivy_doc).map_err(|e| self.err(e))?;
                report.passages += 1;
            }
            report.documents += 1;
        }
        Ok(())
    }

    fn commit(&self, writer: &mut IndexWriter) -> Result<(), RetrievalError> {
        writer.commit().map_err(|e| self.err(e))?;
        self.reader.reload().map_err(|e| self.err(e))
    }

    /// Removes document `doc_id` from `collection`; returns how many passages it had
    /// (0 when there was no such document).
    pub fn delete(&self, collection: &str, doc_id: &str) -> Result<u64, RetrievalError> {
        Ok(self.delete_all(collection, &[doc_id])?[0])
    }

    /// Removes the documents `doc_ids` from `collection` in one commit; returns how many
    /// passages each had (0 when there was no such document).
    pub fn delete_all(
        &self,
        collection: &str,
        doc_ids: &[&str],
    ) -> Result<Vec<u64>, RetrievalError> {
        check_collection(collection)?;
        let removed = doc_ids
            .iter()
            .map(|id| self.passage_count(collection, id))
            .collect::<Result<Vec<u64>, _>>()?;
        if removed.iter().all(|&n| n == 0) {
            return Ok(removed);
        }
        let mut guard = self.writer()?;
        let Some(writer) = guard.as_mut() else {
            return Err(RetrievalError::InvalidArgument(
                "index writer unavailable".into(),
            ));
        };
        for (id, _) in doc_ids.iter().zip(&removed).filter(|(_, &n)| n > 0) {
            writer.delete_term(Term::from_field_text(
                self.fields.doc_key,
                &doc_key(collection, id),
            ));
        }
        self.commit(writer)?;
        Ok(removed)
    }

    /// How many passages document `doc_id` has in `collection` (0 when it is not there).
    pub fn passage_count(&self, collection: &str, doc_id: &str) -> Result<u64, RetrievalError> {
        let term = Term::from_field_text(self.fields.doc_key, &doc_key(collection, doc_id));
        self.count(&self.reader.searcher(), term)
    }

    fn count(&self, searcher: &Searcher, term: Term) -> Result<u64, RetrievalError> {
        let query = TermQuery::new(term, IndexRecordOption::Basic);
        searcher
            .search(&query, &Count)
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Documents and passages per collection.
    pub fn stats(&self) -> Result<IndexStats, RetrievalError> {
        let searcher = self.reader.searcher();
        let mut names = BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment
                .inverted_index(self.fields.collection)
                .map_err(|e| self.err(e))?;
            let mut terms = inverted
                .terms()
                .stream()
                .map_err(|e| self.err(tantivy::TantivyError::from(e)))?;
            while terms.advance() {
                names.insert(String::from_utf8_lossy(terms.key()).into_owned());
            }
        }
        let mut collections = Vec::new();
        for name in names {
            let passages = self.count(
                &searcher,
                Term::from_field_text(self.fields.collection, &name),
            )?;
            if passages == 0 {
                continue;
            }
            let documents = self.count(
                &searcher,
                Term::from_field_text(self.fields.doc_head, &name),
            )?;
            collections.push(CollectionStats {
                collection: name,
                documents,
                passages,
            });
        }
        Ok(IndexStats {
            path: self.dir.clone(),
            analyzer: self.settings.clone(),
            collections,
        })
    }
}
