//! The API's messages in the proto3 JSON mapping (the one grpc-gateway and Google's HTTP
//! transcoding use): lowerCamelCase names (the proto's own names accepted too), enums by
//! name, 64-bit integers as strings, bytes as base64, unknown fields refused. Responses
//! carry every field, defaults included, so their shape never changes.

use std::sync::OnceLock;

use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};

use super::super::pb;

/// A generated message and its full proto name.
pub trait ProtoMessage: prost::Message + Default {
    /// `sofer.v1.SummarizeRequest`, …
    const NAME: &'static str;
}

macro_rules! proto_names {
    ($($ty:ident),* $(,)?) => {
        $(impl ProtoMessage for pb::$ty {
            const NAME: &'static str = concat!("sofer.v1.", stringify!($ty));
        })*
    };
}

proto_names!(
    SummarizeRequest,
    SummarizeResponse,
    StreamSummarizeResponse,
    TranslateRequest,
    TranslateResponse,
    StreamTranslateResponse,
    ClassifyRequest,
    ClassifyResponse,
    IngestDocumentsRequest,
    IngestDocumentsResponse,
    DeleteDocumentsRequest,
    DeleteDocumentsResponse,
    SearchRequest,
    SearchResponse,
    ListCollectionsRequest,
    ListCollectionsResponse,
    GetModelInfoRequest,
    GetModelInfoResponse,
    TokenizeRequest,
    TokenizeResponse,
);

fn descriptor<M: ProtoMessage>() -> MessageDescriptor {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).expect("the compiled-in descriptors")
    })
    .get_message_by_name(M::NAME)
    .expect("every ProtoMessage is in the descriptors")
}

/// Reads `M` from its JSON; the error says what is wrong and where (a field name, a line
/// and column).
pub fn from_json<M: ProtoMessage>(json: &[u8]) -> Result<M, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let dynamic = DynamicMessage::deserialize_with_options(
        descriptor::<M>(),
        &mut deserializer,
        &DeserializeOptions::new(),
    )
    .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    dynamic.transcode_to::<M>().map_err(|e| e.to_string())
}

/// `message` as JSON.
pub fn to_json<M: ProtoMessage>(message: &M) -> serde_json::Value {
    let mut dynamic = DynamicMessage::new(descriptor::<M>());
    dynamic
        .transcode_from(message)
        .expect("a generated message decodes as its own descriptor");
    let options = SerializeOptions::new().skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("a message always serializes to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_the_proto3_json_mapping() {
        let request = pb::ClassifyRequest {
            text: "הכנסת אישרה".into(),
            labels: vec![pb::Label {
                name: "politics".into(),
                description: String::new(),
            }],
            votes: 3,
            method: pb::ClassifyMethod::Vote as i32,
            content: vec![0, 1, 2, 255],
            ..Default::default()
        };
        let json = to_json(&request);
        assert_eq!(json["method"], "CLASSIFY_METHOD_VOTE");
        assert_eq!(json["content"], "AAEC/w==");
        assert_eq!(json["instructionLanguage"], "LANGUAGE_UNSPECIFIED");
        let back: pb::ClassifyRequest = from_json(json.to_string().as_bytes()).unwrap();
        assert_eq!(back, request);
        let snake: pb::ClassifyRequest =
            from_json(br#"{"text": "x", "instruction_language": "LANGUAGE_HEBREW"}"#).unwrap();
        assert_eq!(snake.instruction_language, pb::Language::Hebrew as i32);
        let unknown = from_json::<pb::ClassifyRequest>(br#"{"txt": "x"}"#).unwrap_err();
        assert!(unknown.contains("txt"), "{unknown}");
        let trailing = from_json::<pb::ClassifyRequest>(br#"{"text": "x"} {}"#).unwrap_err();
        assert!(trailing.contains("trailing"), "{trailing}");
    }
}
