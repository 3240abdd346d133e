//! A key/value cache preallocated for the whole request, written in place. The samples of
//! one prompt share its cache's positions ([`KvCache::share`]) instead of copying them.

use candle_core::{DType, Device, Result, Tensor};

use crate::engine::kernels::attention::KT;

/// Keys and values of one attention layer: `(batch, n_kv_heads, positions, head_dim)`.
#[derive(Debug, Clone)]
struct LayerCache {
    k: Tensor,
    v: Tensor,
}

/// The KV cache of every layer for a batch of sequences that advance in lock-step.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// Positions `shared_len..capacity`, written in place.
    layers: Vec<LayerCache>,
    /// Positions `0..shared_len`, read-only views of another cache's storage (which never
    /// writes them again: it only appends past them).
    shared: Vec<LayerCache>,
    shared_len: usize,
    capacity: usize,
    len: usize,
}

/// What [`KvCache::share`] leaves shared is a whole number of these: the attention kernel's
/// key tiles, so attention over a shared cache gives the bits it gives over a copy.
pub const SHARE_ALIGN: usize = KT;

impl KvCache {
    /// Allocates room for `capacity` positions of `batch` sequences.
    pub fn new(
        n_layers: usize,
        batch: usize,
        n_kv_heads: usize,
        head_dim: usize,
        capacity: usize,
        device: &Device,
    ) -> Result<Self> {
        let shape = (batch, n_kv_heads, capacity, head_dim);
        let layers = (0..n_layers)
            .map(|_| {
                Ok(LayerCache {
                    k: Tensor::zeros(shape, DType::F32, device)?,
                    v: Tensor::zeros(shape, DType::F32, device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            shared: Vec::new(),
            shared_len: 0,
            capacity,
            len: 0,
        })
    }

    /// Positions filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the cache can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Positions this cache holds storage for (those it shares are another's).
    pub fn own_capacity(&self) -> usize {
        self.capacity - self.shared_len
    }

    /// Whether some positions are another cache's, read in place ([`KvCache::share`]).
    pub fn is_sharing(&self) -> bool {
        self.shared_len > 0
    }

    /// Sequences in the batch.
    pub fn batch(&self) -> usize {
        self.layers.first().map_or(0, |l| l.k.dims()[0])
    }

    /// Writes `k`, `v` (`(batch, n_kv_heads, seq, head_dim)`) of `layer` at the current
    /// length and returns all cached keys and values up to and including them, in order: the
    /// shared positions when there are any (a whole number of [`SHARE_ALIGN`]), then this
    /// cache's own.
    pub fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<Vec<(Tensor, Tensor)>> {
        let seq = k.dims()[2];
        let end = self.len + seq;
        if end > self.capacity {
            candle_core::bail!(
                "kv cache overflow: {end} positions, capacity {}",
                self.capacity
            );
        }
        let own = &self.layers[layer];
        let at = self.len - self.shared_len;
        own.k.slice_set(k, 2, at)?;
        own.v.slice_set(v, 2, at)?;
        let mut segments = Vec::with_capacity(2);
        if let Some(shared) = self.shared.get(layer) {
            segments.push((shared.k.clone(), shared.v.clone()));
        }
        let own_end = end - self.shared_len;
        segments.push((own.k.narrow(2, 0, own_end)?, own.v.narrow(2, 0, own_end)?));
        Ok(segments)
    }

    /// Marks `seq` more positions as filled; called once per forward pass after every
    /// layer has appended.
    pub fn advance(&mut self, seq: usize) {
        self.len += seq;
    }

    /// Copies positions `start..start + len` of every layer out of this one-sequence cache:
    /// per layer `(k, v)`, each `(1, n_kv_heads, len, head_dim)` in storage of its own.
    pub fn read_positions(&self, start: usize, len: usize) -> Result<Vec<(Tensor, Tensor)>> {
        if self.batch() != 1 || start + len > self.len || self.shared_len > 0 {
            candle_core::bail!(
                "cannot read positions {start}..{} of a {}-row cache holding {} ({} shared)",
                start + len,
                self.batch(),
                self.len,
                self.shared_len
            );
        }
        let own = |t: &Tensor| -> Result<Tensor> {
            let part = t.narrow(2, start, len)?;
            let shape = part.shape().clone();
            Tensor::from_vec(part.flatten_all()?.to_vec1::<f32>()?, shape, t.device())
        };
        self.layers
            .iter()
            .map(|l| Ok((own(&l.k)?, own(&l.v)?)))
            .collect()
    }

    /// Appends positions read by [`KvCache::read_positions`] (every layer's `(k, v)`, the
    /// same length each) at the end of this cache.
    pub fn push_positions(&mut self, kv: &[(Tensor, Tensor)]) -> Result<()> {
        if kv.len() != self.layers.len() {
            candle_core::bail!(
                "{} layers of positions for a cache of {}",
                kv.len(),
                self.layers.len()
            );
        }
        let seq = kv
            .first()
            .map_or(0, |(k, _)| k.dims().get(2).copied().unwrap_or(0));
        for (layer, (k, v)) in kv.iter().enumerate() {
            if k.dims().get(2) != Some(&seq) || v.dims().get(2) != Some(&seq) {
                candle_core::bail!("layer {layer}'s positions differ in length");
            }
            self.append(layer, k, v)?;
        }
        self.advance(seq);
        Ok(())
    }

    /// A cache for one more sequence that continues from this one-sequence cache: it shares
    /// the positions up to the last multiple of [`SHARE_ALIGN`] and copies the few after
    /// them into storage of its own, room for the rest of the capacity. This cache may go on
    /// appending: it never writes the positions it shares.
    pub fn share(&self) -> Result<Self> {
        if self.batch() != 1 || self.shared_len > 0 {
            candle_core::bail!(
                "only a one-row cache of its own can be shared ({} rows, {} shared)",
                self.batch(),
                self.shared_len
            );
        }
        let shared_len = self.len / SHARE_ALIGN * SHARE_ALIGN;
        let copied = self.len - shared_len;
        let own_capacity = self.capacity - shared_len;
        let mut shared = Vec::with_capacity(self.layers.len());
        let mut layers = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let (_, h, _, d) = l.k.dims4()?;
            let own_one = |t: &Tensor| -> Result<Tensor> {
                let out = Tensor::zeros((1, h, own_capacity, d), DType::F32, t.device())?;
                if copied > 0 {
                    out.slice_set(&t.narrow(2, shared_len, copied)?.contiguous()?, 2, 0)?;
                }
                Ok(out)
            };
            layers.push(LayerCache {
                k: own_one(&l.k)?,
                v: own_one(&l.v)?,
            });
            if shared_len > 0 {
                shared.push(LayerCache {
                    k: l.k.narrow(2, 0, shared_len)?,
                    v: l.v.narrow(2, 0, shared_len)?,
                });
            }
        }
        Ok(Self {
            layers,
            shared,
            shared_len,
            capacity: self.capacity,
            len: self.len,
        })
    }

    /// Keeps only the batch rows listed in `rows` (finished samples leave the batch).
    pub fn retain_rows(&mut self, rows: &[u32]) -> Result<()> {
        if self.shared_len > 0 {
            candle_core::bail!("a cache sharing positions keeps its one row");
        }
        let device = match self.layers.first() {
            Some(l) => l.k.device().clone(),
            None => return Ok(()),
        };
        let idx = Tensor::new(rows, &device)?;
        for l in &mut self.layers {
            l.k = l.k.index_select(&idx, 0)?;
            l.v = l.v.index_select(&idx, 0)?;
        }
        Ok(())
    }
}
