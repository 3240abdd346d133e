//! A key/value cache preallocated for the whole request, written in place.

use candle_core::{DType, Device, Result, Tensor};

/// Keys and values of one attention layer: `(batch, n_kv_heads, capacity, head_dim)`.
#[derive(Debug, Clone)]
struct LayerCache {
    k: Tensor,
    v: Tensor,
}

/// The KV cache of every layer for a batch of sequences that advance in lock-step.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    capacity: usize,
    len: usize,
}

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

    /// Sequences in the batch.
    pub fn batch(&self) -> usize {
        self.layers.first().map_or(0, |l| l.k.dims()[0])
    }

    /// Writes `k`, `v` (`(batch, n_kv_heads, seq, head_dim)`) of `layer` at the current
    /// length and returns all cached keys and values up to and including them.
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let seq = k.dims()[2];
        let end = self.len + seq;
        if end > self.capacity {
            candle_core::bail!(
                "kv cache overflow: {end} positions, capacity {}",
                self.capacity
            );
        }
        let cache = &self.layers[layer];
        cache.k.slice_set(k, 2, self.len)?;
        cache.v.slice_set(v, 2, self.len)?;
        Ok((cache.k.narrow(2, 0, end)?, cache.v.narrow(2, 0, end)?))
    }

    /// Marks `seq` more positions as filled; called once per forward pass after every
    /// layer has appended.
    pub fn advance(&mut self, seq: usize) {
        self.len += seq;
    }

    /// Copies positions `start..start + len` of every layer out of this one-sequence cache:
    /// per layer `(k, v)`, each `(1, n_kv_heads, len, head_dim)` in storage of its own.
    pub fn read_positions(&self, start: usize, len: usize) -> Result<Vec<(Tensor, Tensor)>> {
        if self.batch() != 1 || start + len > self.len {
            candle_core::bail!(
                "cannot read positions {start}..{} of a {}-row cache holding {}",
                start + len,
                self.batch(),
                self.len
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

    /// A cache for `batch` sequences that all start from this cache's single sequence:
    /// the shared prompt is computed once and copied into each row.
    pub fn fork(&self, batch: usize) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let (_, h, cap, d) = l.k.dims4()?;
                let fork_one = |t: &Tensor| -> Result<Tensor> {
                    let out = Tensor::zeros((batch, h, cap, d), DType::F32, t.device())?;
                    if self.len > 0 {
                        let prefix = t
                            .narrow(0, 0, 1)?
                            .narrow(2, 0, self.len)?
                            .broadcast_as((batch, h, self.len, d))?
                            .contiguous()?;
                        out.slice_set(&prefix, 2, 0)?;
                    }
                    Ok(out)
                };
                Ok(LayerCache {
                    k: fork_one(&l.k)?,
                    v: fork_one(&l.v)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            capacity: self.capacity,
            len: self.len,
        })
    }

    /// Keeps only the batch rows listed in `rows` (finished samples leave the batch).
    pub fn retain_rows(&mut self, rows: &[u32]) -> Result<()> {
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
