//! ModelService: what the loaded model is, and its tokenizer.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tonic::{Request, Response};

use super::observed::Observed;
use super::offload::bounded;
use super::pb;
use super::pb::model_service_server::ModelService;
use super::request::CallInfo;
use super::server::Shared;
use super::status::{bad_request, from_task, ApiResult};
use crate::tasks::validate::text_size;

/// The ModelService implementation.
pub struct Model {
    pub(super) shared: Arc<Shared>,
    /// Tokenize calls computed at once.
    pub(super) tokenize_permits: Semaphore,
}

#[tonic::async_trait]
impl ModelService for Model {
    async fn get_model_info(
        &self,
        request: Request<pb::GetModelInfoRequest>,
    ) -> ApiResult<Response<pb::GetModelInfoResponse>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "GetModelInfo", &call);
        let result = self.shared.ready().map(|ready| {
            let engine = ready.runtime.engine();
            let info = engine.info();
            let c = &info.config;
            let counters = engine.counters();
            let batch = engine.scheduler_stats();
            Response::new(pb::GetModelInfoResponse {
                architecture: c.architecture.clone(),
                quantization: info.file_type.clone().unwrap_or_default(),
                context_length: c.context_length as u32,
                vocab_size: c.vocab_size as u32,
                layers: c.n_layers as u32,
                experts: c.n_experts as u32,
                experts_per_token: c.n_experts_used as u32,
                parameters: info.n_params,
                file_name: info
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                file_bytes: info.file_size,
                chat_format: ready.runtime.format().name().into(),
                expert_usage: engine
                    .expert_usage()
                    .per_layer
                    .into_iter()
                    .enumerate()
                    .map(|(layer, tokens)| pb::LayerExpertUsage {
                        layer: layer as u32,
                        tokens,
                    })
                    .collect(),
                prefills: counters.prefills,
                decode_steps: counters.decode_steps,
                generated_tokens: counters.generated_tokens,
                bits_per_weight: info.bits_per_weight,
                running_sequences: batch.running as u32,
                waiting_requests: batch.waiting as u32,
                batch_steps: batch.steps,
                prompt_tokens: counters.prompt_tokens,
                cached_prompt_tokens: counters.cached_prompt_tokens,
                prefix_cache_blocks: batch.prefix_blocks as u32,
                prefix_cache_bytes: batch.prefix_bytes as u64,
                kv_cache_bytes: batch.kv_bytes as u64,
                kv_cache_budget_bytes: batch.kv_budget_bytes as u64,
                batch_sequences: batch.batched_rows,
            })
        });
        observed.finish(&result, None);
        result
    }

    async fn tokenize(
        &self,
        request: Request<pb::TokenizeRequest>,
    ) -> ApiResult<Response<pb::TokenizeResponse>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "Tokenize", &call);
        let result = async {
            let runtime = self.shared.ready()?.runtime.clone();
            let req = request.into_inner();
            text_size("text", &req.text).map_err(from_task)?;
            bounded(&self.tokenize_permits, move || tokenize(&runtime, &req)).await
        }
        .await;
        observed.finish(&result, None);
        result
    }
}

fn tokenize(
    runtime: &crate::tasks::TaskRuntime,
    req: &pb::TokenizeRequest,
) -> ApiResult<Response<pb::TokenizeResponse>> {
    let tokenizer = runtime.engine().tokenizer();
    let ids = tokenizer
        .encode(&req.text, req.add_bos)
        .map_err(|e| bad_request("text", e.to_string()))?;
    let words = req.text.split_whitespace().count() as u32;
    let tokens = ids
        .iter()
        .map(|&id| tokenizer.id_to_piece(id).unwrap_or_default().to_string())
        .collect();
    let per_word = if words == 0 {
        0.0
    } else {
        ids.len() as f64 / f64::from(words)
    };
    Ok(Response::new(pb::TokenizeResponse {
        ids,
        tokens,
        words,
        tokens_per_word: per_word,
    }))
}
